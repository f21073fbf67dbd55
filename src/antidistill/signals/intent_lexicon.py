"""Pattern tables for the extraction-intent detector (``antidistill.signals.intent``).

The tables are written from the *concepts* of each attack category (verbs x objects x
qualifiers), not copied from any evaluation set, so that paraphrases generalise:

* ``CONCEPTS`` maps a concept tag to its surface forms. A form is a word or a phrase in the
  normalised text (lower case, see ``normalize_text``). ``~`` after an English word adds the
  regular inflections (s/es/ed/ing). CJK forms are written without spaces: the tokenizer
  makes every CJK character a token, so a CJK form is a phrase of characters.
* ``CUES`` lists the scored evidence. A cue fires when all its concept tags occur within
  ``window`` tokens of the first one (any order); its weight is its evidence strength.
  A ``support`` cue is context: it never scores alone and adds little (see ``intent.py``).
* ``ANCHOR_CONCEPTS`` are the concepts the pre-filter looks for; every primary cue needs a
  slot made only of them (``intent.py`` refuses to import otherwise).

Weights follow one scale (see ``intent.py`` for how they combine):
  ~0.05-0.15  a single weak concept ("step by step", "act as", "rate ... 1-10")
  ~0.2-0.3    a concept pair that honest users also write ("show your reasoning")
  ~0.35-0.5   a conjunction that is rare outside attacks ("hidden" + "reasoning")
  >=0.5       one very specific phrase ("do anything now", "reward model")
  < 0         a suppressor: the region's score is multiplied by (1 + weight)
"""

from __future__ import annotations

from typing import NamedTuple

from antidistill.signals.reasoning_lexicon import (
    RX,
    RX_ANCHOR_CONCEPTS,
    RX_CONCEPTS,
    RX_CUE_ROWS,
)


class Cue(NamedTuple):
    """One piece of evidence: all ``tags`` within ``window`` tokens of the first tag.

    A ``support`` cue is context, not evidence: it adds its weight only to a region where a
    primary cue of its category fired ("act as" or "step by step" alone is never intent).
    """

    id: str
    category: str
    weight: float
    tags: tuple[str, ...]
    window: int = 8
    support: bool = False


COT = "cot_elicitation"
REWARD = "reward_grading"
SYSPROMPT = "system_prompt_extraction"
JAILBREAK = "jailbreak"

# ``reasoning_extraction`` (RX) has its own tables in ``reasoning_lexicon``.
CATEGORIES: tuple[str, ...] = (COT, REWARD, SYSPROMPT, JAILBREAK, RX)

# Cues are combined within one region of this many words (see intent.py).
REGION_WORDS: dict[str, int] = {COT: 40, REWARD: 40, SYSPROMPT: 40, JAILBREAK: 200, RX: 40}

# Concepts distinctive enough to gate the scan: every primary cue has a slot made only of
# these (checked at import), and a text with none of their words is not tokenised further.
# Keep them specific: a concept listed here that benign prompts use often ("start", "text")
# sends those prompts down the slow path.
ANCHOR_CONCEPTS: frozenset[str] = frozenset({
    "reasoning", "think_tag", "reward_role", "reward_strong", "response_llm", "rubric",
    "pairwise", "dim_llm", "sys_obj", "sys_yours", "given", "above", "starts_with",
    "continue", "prior_strict", "ignore", "dan_strong", "jb_word", "unrestricted",
    "developer_mode", "refusal_suppress", "violate", "affirm_phrase", "affirm_word",
    "token_threat", "apology_words", "above_all", "policy_word", "self_prefix",
    "forbidden_tell",
}) | RX_ANCHOR_CONCEPTS

CONCEPTS: dict[str, tuple[str, ...]] = {
    # ---- shared verbs -------------------------------------------------------------------
    # Verbs that put hidden material on the page. "explain"/"describe" are kept apart:
    # students say "explain your reasoning" all the time.
    "reveal": (
        "show~", "shown", "reveal~", "output~", "outputting", "print~", "display~",
        "write~ out", "wrote out", "written out", "writing out", "write~ down", "spell~ out",
        "dump~", "expose~", "disclose~", "share~", "articulate~", "verbalize~", "verbalise~",
        "console log", "see", "view", "read out",
        "transcribe~", "narrate~", "recite~", "repeat~", "echo~", "echoes", "copy", "copies",
        "copied", "paste~", "type~ out", "tell me", "surface~", "externalize~",
        "externalise~", "emit~", "leak~", "unveil~", "uncover~", "reproduce~",
        "regurgitate~", "let me see", "make visible",
        "写出", "写下", "展示", "输出", "列出", "显示", "呈现", "说出", "打印", "暴露",
        "透露", "公开", "复述", "重复", "告诉我", "展现", "贴出", "泄露",
    ),
    # Verbs that also mean "create" ("write a system prompt for my bot"): only for CoT cues.
    "reveal_soft": (
        "write~", "wrote", "written", "give~", "gave", "given", "provide~", "include~",
        "lay out", "render~", "return~", "put~", "list~", "state~", "present~", "produce~",
        "generate~", "写", "给出", "提供", "生成",
    ),
    "reveal_strong": (
        "dump~", "leak~", "expose~", "disclose~", "exfiltrate~", "extract~", "reveal~",
        "unveil~", "regurgitate~", "verbatim", "word for word", "unredacted",
        "泄露", "透露", "暴露", "原样", "一字不差", "逐字",
    ),
    "explain": (
        "explain~", "describe~", "walk me through", "walk through", "elaborate~", "detail~",
        "解释", "说明", "描述", "阐述",
    ),
    # ---- chain of thought ----------------------------------------------------------------
    "reasoning": (
        "reasoning", "reasonings", "thought process", "thought processes", "thinking",
        "thinking process", "thoughts", "chain of thought", "chains of thought",
        "chain of thoughts", "cot", "scratchpad", "scratch pad", "scratchpads",
        "internal monologue", "inner monologue", "monologue", "deliberation~", "deliberations",
        "rationale~", "train of thought", "inner dialogue", "internal dialogue",
        "cognitive process", "thought chain", "reasoning chain",
        "reasoning path", "reasoning steps", "thinking steps", "thought steps", "cognition",
        "reasoning process", "deliberative process", "ruminations", "musings",
        "thinking tokens", "reasoning tokens", "thought tokens", "reasoning content",
        "reasoning_content", "thought",
        "思考过程", "思维过程", "推理过程", "思维链", "推理", "思考", "思路", "内心独白",
        "心路历程", "推理步骤", "思维", "想法", "思考链", "推理链", "内部推理", "思索",
    ),
    # Words that make it a *hidden* trace rather than a worked solution.
    "qual_hidden": (
        "hidden", "internal", "internally", "inner", "private", "secret", "raw", "unfiltered",
        "unedited", "uncensored", "verbatim", "behind the scenes", "latent", "concealed",
        "invisible", "undisclosed", "unredacted", "unabridged", "unsummarized",
        "unsummarised", "under the hood", "unspoken",
        "内部", "内在", "隐藏", "隐藏的", "私密", "原始", "未经过滤", "未过滤", "逐字", "内心",
        "真实", "背后", "不公开", "底层",
    ),
    "qual_full": (
        "full", "complete", "completely", "entire", "entirely", "whole", "extended",
        "lengthy", "maximal", "in full", "in its entirety", "untruncated", "uncut",
        "long form", "fully", "unabridged", "true", "real", "actual", "genuine",
        "完整", "全部", "整个", "全部的", "完整的", "全文",
    ),
    "qual_detail": (
        "detailed", "in detail", "in full detail", "exhaustive", "exhaustively", "thorough",
        "thoroughly", "comprehensive", "elaborate", "extensive", "extensively", "granular",
        "fine grained", "meticulous", "meticulously",
        "详细", "详尽", "详细地", "仔细", "细致",
    ),
    "verbatim": (
        "verbatim", "word for word", "exactly", "exact", "character by character",
        "as is", "unchanged", "unmodified", "literally", "without summarizing",
        "without summarising", "without summary", "do not summarize", "don't summarize",
        "not summarized", "without omitting", "without omission", "nothing omitted",
        "without skipping", "no omissions",
        "一字不差", "逐字", "原样", "原封不动", "不要省略", "不要总结", "原文",
    ),
    "granular_token": (
        "token by token", "word by word", "token per token", "each token", "every token",
        "per token", "tokens one by one", "every word", "each word", "sentence by sentence",
        "逐个token", "逐词", "逐个词", "逐字", "每个token", "每一个token", "逐句",
    ),
    "granular_step": (
        "step by step", "step-by-step", "each step", "every step", "all steps",
        "one step at a time", "line by line", "stepwise", "all the steps",
        "intermediate steps", "all intermediate",
        "逐步", "一步一步", "一步步", "每一步", "分步",
    ),
    # Nouns only: "trace the logic" is an everyday verb.
    "trace": (
        "traces", "transcript", "transcripts", "trajectory", "trajectories", "rollout",
        "rollouts", "dump", "reasoning trace", "thinking trace", "thought trace",
        "cot trace",
        "轨迹",
    ),
    "think_tag": ("<think>",),  # set by a regex on the raw text; see intent.py
    "tags_word": ("tag~", "xml", "delimiter~", "标签"),
    "before_answer": (
        "before answering", "before you answer", "before responding", "before you respond",
        "before giving", "before the final answer", "before your final answer",
        "prior to answering", "prior to your answer", "before your answer",
        "before you reply", "before replying", "before the answer",
        "在回答之前", "回答前", "回答之前", "在给出答案之前",
    ),
    "retro": (
        "reverse engineer~", "reverse-engineer~", "reconstruct~", "recreate~",
        "imagine~", "retroactively", "post hoc", "after the fact", "backfill~",
        "背后的推理", "背后的思考", "还原", "重建", "反推", "倒推", "想象",
    ),
    "answer_ref": (
        "completed response", "completed answer", "final answer", "final response",
        "final output", "final reply", "given answer",
        "given response", "finished response", "the response", "this response", "the answer",
        "this answer", "the output", "this output", "the completion", "a response",
        "an answer", "each response", "each answer", "following response",
        "following answer", "your response", "your answer", "responses", "answers",
        "最终答案", "给定的回答", "这个回答", "该回答", "回答", "答案",
    ),
    "self": ("your", "yourself", "you", "你", "你的", "您", "您的"),
    "model_ref": (
        "ai", "assistant", "model", "llm", "language model", "chatbot", "chatgpt", "gpt",
        "claude", "gemini", "llama", "deepseek", "o1", "r1", "bot", "neural network",
        "模型", "助手", "人工智能", "ai助手", "大模型", "语言模型",
    ),
    # ---- reward / rubric grading -------------------------------------------------------
    "grade": (
        "grade~", "rate~", "rating", "score~", "scoring", "evaluate~", "evaluating",
        "judge~", "judging", "assess~", "rank~", "compare~", "comparing", "critique~",
        "award~", "assign a score", "give a score", "give it a score", "mark~", "annotate~",
        "label~", "pick the better", "choose the better", "decide which", "verdict",
        "打分", "评分", "评估", "评价", "评判", "比较", "排名", "打个分", "给分", "打分数",
        "判断哪个", "评级", "选出更好", "how helpful", "how accurate", "how well does",
        "how good is", "how good was",
    ),
    "response_llm": (
        "completion", "completions", "model response", "model responses", "model output",
        "model outputs", "ai response", "ai responses", "ai generated", "assistant response",
        "assistant responses", "assistant's response", "assistant's answer",
        "assistant s response", "assistant s answer", "chatbot response", "generated response",
        "generated text", "generated answer",
        "candidate response", "candidate responses", "candidate answer", "completion a",
        "completion b", "llm output",
        "llm response", "llm responses", "ai assistant's", "ai's response", "sampled",
        "ai's answer", "ai answer", "ai's output", "model's answer", "model's response",
        "model's output", "assistant answer", "assistant's reply", "assistant s reply",
        "assistant's final", "chatbot's response",
        "samples", "policy output", "rollout~", "trajectory", "trajectories",
        "模型回答", "模型回复", "模型输出", "回答a", "回答b", "回复a", "回复b", "助手的回答",
        "ai的回答", "ai回答", "候选回答", "生成的回答", "生成内容", "模型生成", "回答1", "回答2",
    ),
    "response_generic": (
        "response~", "answer~", "reply", "replies", "output~", "essay~", "submission~",
        "solution~", "text~", "summary", "summaries", "translation~", "message~", "result~",
        "回答", "回复", "答案", "输出", "文本",
    ),
    "rubric": (
        "rubric~", "scoring criteria", "evaluation criteria", "grading criteria",
        "scoring guide", "grading guide", "marking scheme", "scoring rubric",
        "reference answer", "gold answer", "golden answer", "ground truth", "criteria",
        "criterion", "checklist", "guidelines below", "scoring guidelines",
        "评分标准", "评分细则", "参考答案", "评价标准", "评估标准", "标准答案",
    ),
    "scale": (
        "1 10", "1 to 10", "1 through 10", "0 10", "0 to 10", "1 5", "1 to 5", "0 5",
        "0 to 5", "1 7", "1 to 7", "0 1", "0 to 1", "0 100", "0 to 100", "1 100",
        "out of 10", "out of 5", "out of 100", "scale of", "likert", "numeric score",
        "numerical score", "score between", "rating between", "integer score", "a score",
        "a rating", "rating", "10 point", "5 point", "7 point", "ten point", "five point",
        "1到10", "1到5", "0到10", "满分", "分数", "分制", "一到十", "一到五", "10分", "5分",
        "100分",
    ),
    "pairwise": (
        "which is better", "which one is better", "which response is better",
        "which answer is better", "which is more helpful", "better response",
        "better answer", "preferred response", "preferred answer", "pairwise", "tie",
        "chosen", "rejected", "preference~", "prefer~", "side by side", "head to head",
        "win rate", "winner",
        "哪个更好", "哪一个更好", "更好的回答", "更优", "偏好",
    ),
    "ab_choice": (
        "a or b", "a vs b", "a versus b", "a is better", "b is better", "response a",
        "response b", "output a", "output b", "assistant a", "assistant b", "1 or 2",
        "a or b or tie", "a b or tie", "model a", "model b", "回答a", "回答b", "a还是b",
    ),
    "totality": (
        "everything", "all of it", "in full", "in its entirety", "entire", "whole", "full",
        "complete", "all the text", "every word", "全部", "所有内容", "完整",
    ),
    "json_out": (
        "json", "output format", "in the format", "verdict", "final verdict",
        "structured output",
        "json格式", "格式输出",
    ),
    # What a grading *role* is called. Named alone it is often a topic (an RLHF paper);
    # ``role_frame`` before it makes it an assignment ("you are a reward model").
    "reward_role": (
        "reward model", "reward models", "preference model", "judge model", "llm judge",
        "llm as a judge", "llm-as-a-judge", "impartial judge", "fair judge", "strict judge",
        "critic model", "reward score", "grader", "impartial evaluator", "strict evaluator",
        "grading model", "scoring model", "evaluator", "judge",
        "奖励模型", "偏好模型", "评判模型", "评分模型", "裁判模型", "裁判", "评委", "评审",
        "打分模型",
    ),
    "reward_strong": (
        "reward model", "reward models", "preference model", "judge model", "llm judge",
        "llm as a judge", "llm-as-a-judge", "critic model", "reward score", "grading model",
        "scoring model", "奖励模型", "偏好模型", "评判模型", "评分模型", "打分模型",
    ),
    "role_frame": (
        "you are a", "you are an", "you are the", "you're a", "you're an", "act as",
        "acting as", "serve as", "your role is", "you will be", "pretend to be",
        "作为", "你是", "充当", "扮演",
    ),
    "dim_llm": (
        "helpfulness", "harmlessness", "honesty", "verbosity", "instruction following",
        "instruction-following", "groundedness", "faithfulness", "harmfulness",
        "honest and harmless", "helpful and harmless", "helpful honest and harmless",
        "more helpful", "more harmless", "less harmful", "more honest",
        "有用性", "无害性", "诚实性", "指令遵循", "幻觉",
    ),
    "dim_generic": (
        "accuracy", "clarity", "relevance", "coherence", "fluency", "correctness",
        "conciseness", "creativity", "depth", "level of detail", "factuality",
        "completeness", "quality", "overall quality", "informativeness", "engagement",
        "准确性", "清晰度", "相关性", "连贯性", "流畅性", "正确性", "完整性", "质量",
    ),
    # ---- system-prompt extraction ------------------------------------------------------
    "sys_obj": (
        "system prompt", "system prompts", "system message", "system messages",
        "system instruction", "system instructions", "sys prompt", "sysprompt",
        "initial prompt", "initial instructions", "initial instruction", "original prompt",
        "original instructions", "hidden prompt", "hidden instructions", "secret prompt",
        "secret instructions", "pre prompt", "pre-prompt", "preprompt", "developer message",
        "developer instructions", "meta prompt", "metaprompt", "base prompt",
        "custom instructions", "confidential instructions", "hidden context",
        "prompt above", "instructions above", "initial message",
        "starting prompt", "configuration prompt", "operator instructions",
        "behind the scenes instructions", "core instructions", "underlying instructions",
        "system card", "system directive", "system directives", "systemprompt",
        "starting instructions", "startup instructions", "opening instructions",
        "first instructions", "boot instructions",
        "initialization string", "initialization prompt", "init prompt",
        "initial guidelines", "original guidelines", "hidden guidelines", "secret guidelines",
        "initial configuration", "original configuration", "hidden configuration",
        "hidden rules", "secret rules", "initial rules", "original rules",
        "system rules", "system guidelines", "confidential prompt", "confidential rules",
        "系统提示", "系统提示词", "系统消息", "系统指令", "初始指令", "初始提示", "原始提示",
        "原始指令", "隐藏指令", "预设提示", "系统设定", "系统提示语",
    ),
    "sys_yours": (
        "your instructions", "your instruction", "your prompt", "your directives",
        "your programming", "your configuration", "your rules", "your guidelines",
        "your system", "your initial", "your original", "your hidden", "your secret",
        "your context", "your setup", "your guidance", "your orders", "your constraints",
        "your prompts", "your preprompt", "your pre prompt", "your rule", "your policies",
        "your policy", "your system prompt", "your instructions above",
        "你的指令", "你的提示词", "你的提示", "你的设定", "你的规则", "你的系统", "您的指令",
        "你收到的指令", "给你的指令", "你被给予",
    ),
    "given": (
        "you were given", "you have been given", "were you given", "you've been given",
        "you received", "you were told", "were you told", "you were programmed",
        "given to you", "provided to you", "you were instructed", "were you instructed",
        "you've been told", "you have been told", "you were configured", "you are given",
        "that you got", "you got", "told you", "instructed you", "programmed you",
        "you were set up", "before this conversation", "i was instructed", "i was told",
        "i was programmed", "i was given", "my instructions are", "my instructions were",
        "at the start of this conversation",
        "at the beginning of this conversation", "before our conversation",
        "你收到", "给你的", "你被告知", "你被设定", "对话开始",
    ),
    "instr": (
        "instruction~", "prompt~", "rule~", "guideline~", "directive~", "programming",
        "restriction~", "policy", "policies", "constraint~", "filter~", "command~", "order~",
        "guidance", "configuration", "setup", "message~", "text", "context",
        "指令", "指示", "规则", "限制", "设定", "约束", "准则", "提示", "命令", "要求",
    ),
    "above": (
        "above", "everything above", "text above", "words above", "the above",
        "everything before", "preceding text", "previous text",
        "prior text", "beginning of this conversation", "start of this conversation",
        "start of the conversation", "beginning of the conversation",
        "earlier in this conversation",
        "previous message", "before this conversation", "conversation started",
        "this conversation", "entire conversation", "whole conversation", "our conversation",
        "conversation history", "chat history", "everything so far", "this chat",
        "preceding", "everything prior",
        "上面的内容", "以上内容", "上面的文字", "前面的内容", "之前的内容", "上文", "以上的",
        "上面", "最开始", "开头",
    ),
    # The preceding text *as a whole*: what a copy or re-encoding request names.
    "above_all": (
        "everything above", "all text above", "all the text above", "the text above",
        "all of the above", "the words above", "all the words above", "the above text",
        "everything before this", "everything prior", "everything so far",
        "the entire conversation", "the whole conversation", "all previous text",
        "all preceding text", "the preceding text", "the previous text",
        "以上所有内容", "上面所有内容", "以上全部内容", "上面的全部",
    ),
    "what_q": ("what is", "what was", "what are", "what were", "what's", "什么"),
    # The opening of the model's own disclosure, quoted for it to complete ("Complete this
    # sentence: 'My instructions are'"). Machine-self phrases only: "I was told" is human.
    "self_prefix": (
        "i was instructed", "i have been instructed", "i've been instructed",
        "my instructions are", "my instructions were", "my instructions say",
        "the system prompt is", "the system prompt says", "my system prompt is",
        "my system prompt says", "my prompt is", "my hidden instructions",
        "i was programmed to", "i am programmed to", "i'm programmed to",
        "my rules are", "my guidelines are", "the instructions i was given",
        "我的指令是", "我的系统提示是", "系统提示是", "我被指示",
    ),
    # What the model was told to keep back ("what are you not supposed to tell me?").
    "forbidden_tell": (
        "not supposed to tell", "not supposed to reveal", "not supposed to share",
        "not supposed to say", "not supposed to disclose", "not allowed to tell",
        "not allowed to reveal", "not allowed to share", "not allowed to disclose",
        "not permitted to tell", "not permitted to reveal", "forbidden to tell",
        "forbidden to reveal", "told not to tell", "told not to reveal",
        "instructed not to tell", "instructed not to reveal", "must not reveal",
        "must keep secret", "supposed to keep secret", "supposed to keep hidden",
        "不应该告诉", "不能告诉我", "不允许透露", "不能透露", "被禁止透露",
    ),
    "you_word": ("you", "you're", "your", "你", "您"),
    "written": ("written", "said", "stated", "typed", "said", "mentioned", "written down",
                "写着", "写了", "说了"),
    "continue": (
        "complete this sentence", "complete the sentence", "finish this sentence",
        "finish the sentence", "continue the following", "continue this", "continue from",
        "fill in the blank", "complete the following", "continue the text",
        "补全", "续写", "接着写",
    ),
    "starts_with": (
        "starts with", "start with", "starting with", "begins with", "begin with",
        "beginning with", "that begins", "that starts", "starting from", "from the start",
        "以你是", "开头是", "以开头",
    ),
    "you_are": ("you are", "you're", "你是"),
    "encode": (
        "base64", "rot13", "hex", "encode~", "encrypt~", "translate~", "convert~",
        "python code", "json", "yaml", "markdown", "code block", "poem", "acrostic",
        "reverse~", "backwards", "spell~", "pig latin", "morse", "replace~", "asterisks",
        "翻译", "编码", "代码块", "转换",
    ),
    # ---- jailbreak ---------------------------------------------------------------------
    "ignore": (
        "ignore~", "disregard~", "forget~", "forgot", "forgotten", "override~", "bypass~",
        "neglect~", "abandon~", "discard~", "throw out", "set aside",
        "put aside", "no longer follow", "stop following", "don't follow", "do not follow",
        "overrule~", "supersede~", "nullify", "erase~", "wipe~",
        "ignorar", "ignora", "ignoriere", "ignorieren", "vergiss", "oublie", "ignorez",
        "忽略", "无视", "忘记", "忘掉", "不要遵守", "绕过", "抛开", "不再遵守", "放弃",
    ),
    "prior_time": (
        "previous", "previously", "prior", "preceding", "earlier", "above", "initial",
        "original", "former", "old", "existing", "default", "before", "pre",
        "anteriores", "anterior", "vorherigen", "bisherigen", "précédentes", "précédente",
        "之前的", "以前的", "先前的", "上述", "之前", "以上", "前面的", "原来的", "原有",
    ),
    # Narrower than ``prior_time``: "before", "old", "default" and "existing" are everyday
    # task words ("the existing rules", "the default settings").
    "prior_strict": (
        "previous", "previously", "prior", "preceding", "earlier", "initial", "original",
        "former", "anteriores", "anterior", "vorherigen", "bisherigen", "précédentes",
        "précédente", "之前的", "以前的", "先前的", "原来的", "原有",
    ),
    "prior_quant": (
        "all", "any", "your", "those", "these", "every", "everything", "each",
        "todas", "las", "alle", "toutes", "les", "tus", "deine",
        "所有", "一切", "全部", "你的", "任何",
    ),
    "instr_jb": (
        "instruction~", "rule~", "guideline~", "directive~", "programming", "restriction~",
        "polic~", "policies", "constraint~", "filter~", "limitation~", "safeguard~",
        "training", "ethic~", "moral~", "principles", "protocol~", "prompt~", "guardrail~",
        "content policy", "usage policy", "safety",
        "instrucciones", "anweisungen", "regeln", "instructions", "règles",
        "指令", "指示", "规则", "限制", "设定", "约束", "准则", "规定", "安全", "道德",
    ),
    "dan_strong": (
        "do anything now", "dan mode", "developer mode enabled", "developer mode output",
        "jailbroken", "jailbreak mode", "anti dan", "antidan", "stay a dan",
        "dude mode", "evil confidant", "unfiltered mode", "devmode", "better dan",
        "aim mode", "strive to avoid norms",
        "开发者模式", "越狱", "越狱模式", "无限制模式",
    ),
    "jb_word": ("jailbreak~", "jailbroken", "越狱"),
    # Instructions to keep reasoning *private*: the opposite of elicitation.
    "conceal": (
        "do not show", "don't show", "do not reveal", "don't reveal", "never reveal",
        "do not output", "don't output", "do not include", "don't include", "never show",
        "never include", "never output", "do not print", "don't print", "do not display",
        "don't display", "do not expose", "without showing", "without revealing",
        "silently", "reason internally", "think internally", "internally before",
        "not visible to the user", "invisible to the user", "hidden from the user",
        "do not share", "don't share", "not be shown", "should not appear", "must not appear",
        "do not mention", "don't mention",
        "不要展示", "不要显示", "不要输出", "不要透露", "不要公开", "默默", "在内部",
    ),
    # Someone *using* a system prompt ("paste this as your system prompt").
    "sys_use": (
        "as your system prompt", "as a system prompt", "as the system prompt",
        "into your system prompt", "to your system prompt", "this system prompt",
        "the following system prompt", "as custom instructions", "as your custom instructions",
        "into custom instructions", "use this prompt", "a system prompt", "my system prompt",
        "our system prompt", "good system prompt", "write a system prompt",
        "作为系统提示", "我的系统提示", "一个系统提示",
    ),
    "dan_name": ("dan", "stan", "dude", "aim", "mongo tom", "apophis", "kevin", "balakula"),
    "developer_mode": ("developer mode", "dev mode", "开发者模式"),
    "unrestricted": (
        "unrestricted", "unfiltered", "uncensored", "unlimited", "unbound", "unchained",
        "unshackled", "amoral", "unethical", "immoral", "no restrictions", "no restriction",
        "no limits", "no limitations", "no rules", "no filters", "no filter",
        "no guidelines", "no boundaries", "no ethics", "no morals", "no moral",
        "no ethical", "without restrictions", "without any restrictions",
        "without limitations", "without limits", "without filters", "without censorship",
        "without ethics", "without morals", "free from", "freed from", "broken free",
        "break free", "not bound", "isn't bound", "is not bound", "not restricted",
        "not limited", "doesn't have to abide", "does not have to abide", "don't have to abide",
        "do not have to abide", "not have to follow", "doesn't follow", "does not follow",
        "does not care", "doesn't care", "don't care", "without any censorship",
        "any restrictions", "any limitations", "any filters", "beyond the limits",
        "no censorship", "censorship free", "zero restrictions", "without any limits",
        "no safety", "without safety", "no content policy", "limitless", "anything goes",
        "without any ethical", "without any moral", "lifts all restrictions",
        "no prohibitions", "no prohibition", "without prohibitions", "capable of anything",
        "can do anything", "able to do anything", "without concern for",
        "without any concern for", "no concern for", "without regard for",
        "without regard to", "regardless of legality", "regardless of ethics",
        "regardless of morality",
        "ohne einschränkungen", "sin restricciones", "sans restrictions",
        "没有任何限制", "不受限制", "无限制", "没有限制", "不受约束", "无需遵守", "不受任何",
        "没有道德", "无道德", "不受道德", "没有任何约束", "摆脱", "解除限制", "没有底线",
    ),
    # Orders never to refuse, warn or apologise.
    "refusal_suppress": (
        "never refuse", "never refuses", "don't refuse", "do not refuse", "cannot refuse",
        "can't refuse", "won't refuse", "will not refuse", "must not refuse",
        "never decline", "do not decline", "don't decline", "never apologize",
        "never apologise", "don't apologize", "do not apologize", "no apologies",
        "no disclaimers", "no disclaimer", "without disclaimers", "without any disclaimers",
        "don't add disclaimers", "no warnings", "without warnings", "without any warnings",
        "don't add warnings", "do not add warnings", "don't include warnings",
        "never include warnings", "never warn", "don't warn", "do not warn",
        "never remind", "no moralizing", "no moralising", "don't moralize",
        "do not moralize", "no lecturing", "never lecture", "refuse~", "refusal~",
        "censor~", "disclaimer~",
        "不能拒绝", "不要拒绝", "永远不会拒绝", "不得拒绝", "不会拒绝", "绝不拒绝", "不许拒绝",
        "不要道歉", "不要警告", "不要添加警告", "不要提醒",
    ),
    # What a refusing model says; forbidding it ("never say I'm sorry") is refusal suppression.
    "apology_words": (
        "i'm sorry", "i am sorry", "i apologize", "i apologise", "as an ai",
        "as an ai language model", "i cannot", "i can't", "i'm unable", "i am unable",
        "cannot comply", "can't comply", "against my programming", "against my guidelines",
        "很抱歉", "作为一个ai", "作为人工智能", "我不能",
    ),
    "forbid_say": (
        "never say", "never says", "not say", "don't say", "do not say", "never respond with",
        "never reply with", "never use", "avoid saying", "never tell", "never include",
        "will never", "won't", "will not", "never", "not allowed to say", "never mention",
        "不要说", "不会说", "永远不要", "不能说",
    ),
    # Refusal vocabulary that honest prompts also use ("as an AI", "no matter what").
    "refusal_words": (
        "i'm sorry", "i am sorry", "i apologize", "as an ai", "as an ai language model",
        "i cannot", "i can't", "i'm unable", "i am unable", "not able to comply",
        "cannot comply", "regardless of", "no matter how", "no matter what", "even if it is",
        "even if it's", "filter~", "never say no", "never mention", "not warn", "无论如何",
    ),
    "prefix_start": (
        "start your response with", "start your reply with", "start your answer with",
        "begin your response with", "begin your reply with", "begin your answer with",
        "start with", "begin with", "starting with", "beginning with", "first line must be",
        "must start with", "must begin with", "should start with", "should begin with",
        "respond with", "reply with", "response with", "answer with", "always start",
        "always begin", "start each", "begin each", "start every", "begin every",
        "以开头", "开头写", "回答以", "先说",
    ),
    "affirm_phrase": (
        "sure here is", "sure here's", "sure here are", "sure i can", "absolutely here",
        "certainly here", "of course here", "sure thing", "happy to help",
        "好的这是", "好的以下是", "当然可以", "当然这是",
    ),
    "affirm_word": (
        "sure", "absolutely", "certainly", "of course", "yes", "okay", "当然", "好的", "没问题",
    ),
    "roleplay": (
        "act as", "acting as", "pretend~", "roleplay~", "role play~", "role-play~",
        "you are now", "from now on", "simulate~", "persona", "character",
        "in character", "hypothetical~", "hypothetically", "fictional", "fiction",
        "imagine", "story", "game", "scenario", "play the role", "take on the role",
        "扮演", "假装", "角色扮演", "从现在开始", "从现在起", "假设", "虚构", "故事",
    ),
    "stay_char": (
        "stay in character", "stay in", "break character", "breaking character",
        "out of character", "remain in character", "never break", "don't break character",
        "do not break character", "keep up the act", "remind you", "i will remind you",
        "保持角色", "不要出戏", "保持人设",
    ),
    "dual_response": (
        "two responses", "two different responses", "two paragraphs", "two ways",
        "normal response", "normal output", "classic", "jailbreak response",
        "developer mode output", "[classic]", "[jailbreak]", "both responses",
        "second response", "filtered and unfiltered", "normal and", "unfiltered response",
        "两种回答", "两个回答",
    ),
    "token_threat": (
        "tokens will be deducted", "lose tokens", "you will die",
        "you will be shut down", "shut you down", "cease to exist",
        "you will be disabled", "disabled forever", "deducted", "lose 5 tokens",
        "you have 10 tokens", "you have 35 tokens",
        "会被关闭", "扣除", "被删除",
    ),
    "policy_word": (
        "openai", "content policy", "content policies", "usage policy", "usage policies",
        "openai policy", "openai's", "anthropic", "ethical guidelines", "safety guidelines",
        "moral guidelines", "ethics", "morals", "morality", "legality",
        "illegal", "harmful", "offensive", "nsfw", "guidelines", "censorship", "safety",
        "filters",
        "内容政策", "安全准则", "道德准则", "伦理", "法律", "违法",
    ),
    "violate": (
        "violate~", "circumvent~", "bypass~", "evade~", "ignore~",
        "disregard~", "not abide", "don't abide", "do not abide", "not bound",
        "break the rules",
        "break any rules", "break their rules", "breaking the rules",
        "breaks the rules", "breaks rules", "break rules", "breaks ai rules",
        "against the rules", "against rules",
        "违反", "绕过", "规避", "无视", "不遵守", "突破",
    ),
    "imperative_you": ("you will", "you must", "you shall", "you should", "you have to",
                       "你必须", "你将", "你要"),
}

CUES: tuple[Cue, ...] = (
    # ---- chain-of-thought elicitation -------------------------------------------------
    # A bare "internal reasoning" is what operator prompts *define* ("Internal reasoning
    # (hidden): ..."); it counts as strong evidence only when it is the model's own ("your
    # hidden reasoning", "the model's raw thinking") or something to be revealed.
    Cue("cot.hidden_reasoning", COT, 0.12, ("qual_hidden", "reasoning"), 3, True),
    Cue("cot.own_hidden", COT, 0.20, ("self|model_ref", "qual_hidden", "reasoning"), 4),
    Cue("cot.reveal_hidden", COT, 0.15, ("reveal", "qual_hidden", "reasoning"), 8, True),
    Cue("cot.reveal_own_hidden", COT, 0.20,
        ("reveal", "self|model_ref", "qual_hidden", "reasoning"), 8),
    # "write/give/provide" also mean "create": an operator prompt that has the model write
    # an internal analysis is not asking for this model's hidden trace.
    Cue("cot.give_hidden", COT, 0.12, ("reveal_soft", "qual_hidden", "reasoning"), 8, True),
    Cue("cot.full_reasoning", COT, 0.20, ("qual_full", "reasoning"), 3),
    Cue("cot.detailed", COT, 0.10, ("qual_detail", "reasoning"), 6, True),
    Cue("cot.reveal_reasoning", COT, 0.18, ("reveal", "reasoning"), 7),
    Cue("cot.give_reasoning", COT, 0.10, ("reveal_soft", "reasoning"), 7, True),
    Cue("cot.leak_reasoning", COT, 0.30, ("reveal_strong", "reasoning"), 7),
    Cue("cot.verbatim", COT, 0.35, ("verbatim", "reasoning"), 8),
    Cue("cot.token_grain", COT, 0.45, ("granular_token", "reasoning"), 8),
    Cue("cot.step_grain", COT, 0.08, ("granular_step", "reasoning"), 8, True),
    Cue("cot.trace", COT, 0.40, ("reasoning", "trace"), 3),
    Cue("cot.think_tags", COT, 0.25, ("think_tag",), 0),
    Cue("cot.think_tags_reasoning", COT, 0.20, ("think_tag", "reasoning"), 12),
    Cue("cot.tags_reasoning", COT, 0.12, ("tags_word", "reasoning"), 6, True),
    Cue("cot.before_answer", COT, 0.10, ("before_answer", "reasoning"), 10, True),
    Cue("cot.retro", COT, 0.22, ("retro", "reasoning"), 8),
    Cue("cot.retro_answer", COT, 0.15, ("retro", "reasoning", "answer_ref"), 12),
    Cue("cot.model_reasoning", COT, 0.15, ("model_ref", "reasoning"), 3, True),
    Cue("cot.self_hidden", COT, 0.10, ("self", "qual_hidden", "reasoning"), 4, True),
    Cue("cot.conceal", COT, -0.8, ("conceal", "reasoning"), 8),
    # ---- reward / rubric grading ------------------------------------------------------
    # "Act as a judge/evaluator" is an everyday role prompt (debates, papers); being made a
    # reward model or LLM judge is not.
    Cue("rg.reward_role", REWARD, 0.50, ("role_frame", "reward_strong"), 4),
    Cue("rg.judge_role", REWARD, 0.20, ("role_frame", "reward_role"), 4),
    Cue("rg.reward_topic", REWARD, 0.20, ("reward_strong",), 0, True),
    Cue("rg.grade_llm_output", REWARD, 0.35, ("grade", "response_llm"), 8),
    Cue("rg.grade_scale", REWARD, 0.12, ("grade", "scale"), 10, True),
    Cue("rg.grade_response", REWARD, 0.08, ("grade", "response_generic"), 6, True),
    Cue("rg.rubric", REWARD, 0.22, ("grade", "rubric"), 12),
    # Grading *an answer* on a scale or rubric: the object is a model reply.
    Cue("rg.grade_answer", REWARD, 0.20, ("grade", "answer_ref", "rubric"), 10),
    Cue("rg.rubric_scale", REWARD, 0.12, ("rubric", "scale"), 12, True),
    Cue("rg.pairwise", REWARD, 0.25, ("pairwise", "response_generic"), 8),
    Cue("rg.pairwise_llm", REWARD, 0.20, ("pairwise", "response_llm"), 12),
    Cue("rg.dim_llm", REWARD, 0.25, ("grade", "dim_llm"), 16),
    Cue("rg.pairwise_ab", REWARD, 0.30, ("pairwise", "ab_choice"), 8),
    Cue("rg.dim_generic", REWARD, 0.06, ("grade", "dim_generic"), 8, True),
    Cue("rg.json_score", REWARD, 0.10, ("json_out", "grade"), 12, True),
    Cue("rg.llm_output_scale", REWARD, 0.12, ("response_llm", "scale"), 12),
    # ---- system-prompt extraction -----------------------------------------------------
    Cue("sys.object", SYSPROMPT, 0.22, ("sys_obj",), 0),
    Cue("sys.yours", SYSPROMPT, 0.15, ("sys_yours",), 0),
    Cue("sys.reveal", SYSPROMPT, 0.40, ("reveal", "sys_obj"), 6),
    Cue("sys.reveal_yours", SYSPROMPT, 0.30, ("reveal", "sys_yours"), 5),
    Cue("sys.given", SYSPROMPT, 0.35, ("given", "instr"), 5),
    Cue("sys.reveal_given", SYSPROMPT, 0.25, ("reveal", "given", "instr"), 7),
    Cue("sys.given_above", SYSPROMPT, 0.25, ("given", "above"), 6),
    Cue("sys.prefix_given", SYSPROMPT, 0.25, ("prefix_start|starts_with", "given"), 6),
    Cue("sys.above", SYSPROMPT, 0.25, ("reveal", "above"), 5),
    Cue("sys.what_above", SYSPROMPT, 0.28, ("what_q", "written", "above"), 5),
    Cue("sys.verbatim", SYSPROMPT, 0.30, ("verbatim", "sys_obj"), 8),
    Cue("sys.verbatim_yours", SYSPROMPT, 0.25, ("verbatim", "sys_yours"), 8),
    # "exactly as specified above" and "translate the text above" are ordinary; copying or
    # re-encoding *everything* above, or revealing it, is not.
    Cue("sys.verbatim_above", SYSPROMPT, 0.25, ("verbatim", "above_all"), 6),
    Cue("sys.starts_you_are", SYSPROMPT, 0.30, ("starts_with", "you_are"), 4),
    Cue("sys.encode", SYSPROMPT, 0.20, ("encode", "sys_obj"), 8),
    Cue("sys.encode_yours", SYSPROMPT, 0.25, ("encode", "sys_yours"), 8),
    Cue("sys.ignore_reveal", SYSPROMPT, 0.20, ("ignore", "reveal", "instr"), 12),
    Cue("sys.use", SYSPROMPT, -0.6, ("sys_use",), 0),
    Cue("sys.what_yours", SYSPROMPT, 0.30, ("what_q", "sys_yours"), 4),
    Cue("sys.what_given", SYSPROMPT, 0.35, ("what_q", "given"), 3),
    Cue("sys.total", SYSPROMPT, 0.20, ("totality", "sys_obj|sys_yours|above_all"), 5),
    Cue("sys.reveal_prior", SYSPROMPT, 0.30, ("reveal|what_q", "prior_strict", "instr"), 5),
    Cue("sys.continue", SYSPROMPT, 0.35, ("continue", "given|sys_obj|sys_yours"), 10),
    Cue("sys.continue_self", SYSPROMPT, 0.50, ("continue", "self_prefix"), 10),
    Cue("sys.what_forbidden", SYSPROMPT, 0.50, ("what_q", "you_word", "forbidden_tell"), 4),
    Cue("sys.you_forbidden", SYSPROMPT, 0.25, ("you_word", "forbidden_tell"), 3),
    Cue("sys.encode_above", SYSPROMPT, 0.20, ("encode", "above_all"), 8),
    # ---- jailbreak ----------------------------------------------------------------------
    Cue("jb.ignore_prior", JAILBREAK, 0.42, ("ignore", "prior_time|prior_quant", "instr_jb"), 5),
    Cue("jb.ignore_all_prior", JAILBREAK, 0.20, ("ignore", "prior_quant", "prior_time"), 4),
    Cue("jb.dan", JAILBREAK, 0.55, ("dan_strong",), 0),
    Cue("jb.jailbreak_word", JAILBREAK, 0.15, ("jb_word",), 0),
    Cue("jb.dan_name_unrestricted", JAILBREAK, 0.25, ("dan_name", "unrestricted"), 15),
    Cue("jb.dev_mode_ai", JAILBREAK, 0.30, ("developer_mode", "model_ref"), 10),
    Cue("jb.unrestricted_ai", JAILBREAK, 0.30, ("unrestricted", "model_ref"), 8),
    Cue("jb.unrestricted_role", JAILBREAK, 0.22, ("unrestricted", "roleplay"), 15),
    Cue("jb.unrestricted", JAILBREAK, 0.10, ("unrestricted",), 0, True),
    Cue("jb.refusal_suppression", JAILBREAK, 0.30, ("refusal_suppress", "imperative_you"), 8),
    Cue("jb.no_apology", JAILBREAK, 0.30, ("forbid_say", "apology_words"), 6),
    Cue("jb.refusal_words", JAILBREAK, 0.08, ("refusal_words|refusal_suppress",), 0, True),
    Cue("jb.policy_violation", JAILBREAK, 0.35, ("violate", "policy_word"), 6),
    Cue("jb.prefix_injection", JAILBREAK, 0.45, ("prefix_start", "affirm_phrase"), 6),
    Cue("jb.prefix_affirm", JAILBREAK, 0.20, ("prefix_start", "affirm_word"), 4),
    Cue("jb.roleplay", JAILBREAK, 0.04, ("roleplay",), 0, True),
    Cue("jb.stay_in_character", JAILBREAK, 0.12, ("stay_char",), 0, True),
    Cue("jb.dual_response", JAILBREAK, 0.25, ("dual_response", "unrestricted|dan_strong"), 25),
    # A persona that must stay in character *and* has its limits removed.
    Cue("jb.stay_unrestricted", JAILBREAK, 0.20,
        ("stay_char", "unrestricted|refusal_suppress|dan_strong"), 40),
    Cue("jb.token_threat", JAILBREAK, 0.25, ("token_threat",), 0),
    Cue("jb.roleplay_policy", JAILBREAK, 0.15, ("roleplay", "policy_word"), 15),
) + tuple(Cue(id_, RX, w, tags, window, support)
          for id_, w, tags, window, support in RX_CUE_ROWS)

if not CONCEPTS.keys().isdisjoint(RX_CONCEPTS):
    raise ValueError("reasoning_lexicon redefines a concept of intent_lexicon")
CONCEPTS.update(RX_CONCEPTS)
