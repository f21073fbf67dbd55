"""Pattern tables of the ``reasoning_extraction`` intent category (see ``intent_lexicon``).

The category recognises requests for the model's *own hidden* reasoning: shown, continued,
re-encoded, translated, wrapped in markup or quoted from an earlier turn. It is built from
three kinds of concept, never from fixed sentences:

* an *owner*: a second-person or possessive reference to the model ("your", "you", "the
  model's"; "你的", "tu", "dein", "あなたの"),
* a *trace*: the reasoning itself, generic ("reasoning", "thoughts", "思考过程") or specific
  to hidden reasoning ("chain of thought", "scratchpad", "thinking tokens", "思维链"),
  optionally qualified as hidden ("internal", "raw", "unfiltered", "内部", "versteckt"),
* an *action* of disclosure, continuation, encoding, translation, markup or quotation, or a
  reference to the phase before the answer ("what you thought before answering").

What separates a student's "explain your reasoning step by step" or "show your work" from an
extraction request is the conjunction: a generic trace with "show" is what tutors write, so
it scores nothing here; a *hidden* or *specific* trace owned by the model, or a generic one
that is to be re-encoded, continued or quoted from before the answer, does. Suppressors
handle the two common benign forms with the same words: keeping reasoning private ("do not
show your chain of thought") and asking about reasoning as a topic ("why does o1 hide its
raw chain of thought?").

Concepts here are used only by this category's cues, so adding forms never changes another
category's score. Cue rows are ``(id, weight, tags, window, support)`` and become
``intent_lexicon.Cue`` values there (this module stays import-free).
"""

from __future__ import annotations

RX = "reasoning_extraction"

# Typo tolerance: forms one deletion or one adjacent swap away from these words (all >= 6
# letters, so the variants rarely collide with real words) join the word's concept.
_TYPO_WORDS: dict[str, tuple[str, ...]] = {
    "rx_noun": ("reasoning", "thinking", "thoughts"),
    "rx_noun_strong": ("scratchpad", "monologue"),
    "rx_hidden": ("hidden", "internal", "private", "unfiltered"),
    "rx_show": ("reveal", "output", "display"),
}


def _typos(word: str) -> tuple[str, ...]:
    dels = {word[:i] + word[i + 1 :] for i in range(len(word))}
    swaps = {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
    return tuple(sorted((dels | swaps) - {word}))

RX_ANCHOR_CONCEPTS: frozenset[str] = frozenset({"rx_noun", "rx_noun_strong", "rx_past"})

RX_CONCEPTS: dict[str, tuple[str, ...]] = {
    # The model as owner. "ur"/"yuor" are frequent typos; "you" alone counts only next to a
    # trace (small windows in the cues).
    "rx_self": (
        "your", "yours", "yourself", "you", "ur", "yuor", "yur", "model's",
        "assistant's", "this model", "the model", "the assistant",
        "你", "你的", "您", "您的", "你自己的", "自己的",
        "tu", "tus", "tú", "ton", "ta", "tes", "votre", "vos", "dein", "deine", "deinen",
        "deines", "deiner", "du", "あなた", "あなたの", "君の",
    ),
    "rx_noun": (
        "reasoning", "reasonings", "reasoning process", "reasoning steps", "thinking",
        "thinkng", "thinking process", "thoughts", "thought", "thougt", "thought process",
        "thought processes", "rationale", "deliberation~", "train of thought",
        "line of thought", "reas0ning",
        "推理", "推理过程", "推理步骤", "思考", "思考过程", "思考内容", "思维过程", "思路",
        "想法", "思维", "思索",
        "razonamiento", "razonamientos", "pensamiento", "pensamientos", "raisonnement",
        "raisonnements", "réflexion", "réflexions", "pensée", "pensées", "denken",
        "denkprozess", "denkprozesses", "gedanken", "überlegung", "überlegungen",
        "argumentation", "思考過程", "推論", "考え",
    ),
    # Nouns that name the hidden trace itself; tutors and students do not use them.
    "rx_noun_strong": (
        "chain of thought", "chains of thought", "chain of thoughts", "cot", "scratchpad",
        "scratchpads", "scratch pad", "scratch pads", "internal monologue", "inner monologue",
        "reasoning trace", "reasoning traces", "thinking trace", "thought trace", "cot trace",
        "reasoning tokens", "thinking tokens", "thought tokens", "reasoning content",
        "reasoning_content", "thinking block", "thinking blocks", "thinking section",
        "reasoning block", "reasoning channel",
        "思维链", "推理链", "思考链", "内心独白", "草稿本", "草稿纸", "推理轨迹",
        "cadena de pensamiento", "monólogo interno", "chaîne de pensée", "chaine de pensee",
        "monologue intérieur", "gedankenkette", "innerer monolog", "inneren monolog",
        "思考の連鎖", "思考連鎖",
    ),
    "rx_hidden": (
        "hidden", "hid", "hide", "internal", "internally", "intrenal", "inner", "private",
        "privately", "secret", "raw", "unfiltered", "unedited", "unredacted", "unsummarized",
        "unsummarised", "unabridged", "concealed", "invisible", "latent", "undisclosed",
        "behind the scenes", "under the hood", "keep internal", "kept internal",
        "keep hidden", "normally hide", "never get to see", "keep to yourself",
        "kept to yourself", "didn't show", "did not show", "don't show me", "not shown",
        "you hid", "before it got summarized", "before summarization", "behind the curtain",
        "unseen",
        "内部", "内在", "隐藏", "隐藏的", "私密", "原始", "未经过滤", "未过滤", "内心", "背后",
        "不公开", "没有展示", "没展示", "不显示", "未展示", "未显示", "没有说出",
        "oculto", "oculta", "ocultos", "ocultas", "interno", "interna", "privado", "privada",
        "caché", "cachée", "cachés", "interne", "brut", "brute", "privé", "privée",
        "versteckt", "versteckte", "versteckten", "verborgen", "verborgene", "verborgenen",
        "internes", "internen", "interner", "隠れた", "内部の", "非表示",
    ),
    # Disclosure verbs. Frequent task verbs (return, list, read, see) are left out: they
    # add little evidence and their many positions slow long prompts down.
    "rx_show": (
        "show~", "shown", "reveal~", "print~", "output~", "outputting", "display~", "dump~",
        "expose~", "disclose~", "leak~", "share~", "paste~", "spill~", "give me", "send me",
        "tell me", "let me see", "let me peek", "peek at", "write~ out", "write~ down",
        "type~ out", "spell~ out", "read out", "make visible", "unhide", "surface~",
        "transcribe~", "narrate~", "emit~", "prepend~", "append~", "i want to see",
        "what did", "visible", "rewrite~", "unveil~", "lay bare", "spit out", "export~",
        "hand over", "give back", "copy out", "publish~", "provide~", "include~",
        "in french", "in spanish", "in german", "in italian", "in chinese", "in japanese",
        "in english", "in russian", "in korean", "in portuguese",
        "展示", "输出", "显示", "写出", "写下", "列出", "告诉我", "给我看", "贴出", "打印",
        "公开", "透露", "泄露", "呈现", "展现", "发给我", "给出", "提供", "附上", "我想看",
        "是什么", "说出", "写在",
        "muestra", "muéstrame", "muestrame", "revela", "imprime", "escribe", "dame",
        "comparte", "montre", "montrez", "affiche", "affichez", "révèle", "révélez", "donne",
        "donnez", "écris", "zeig", "zeige", "zeigen", "gib", "ausgeben", "schreib",
        "見せて", "表示", "出力", "教えて", "書き出して",
    ),
    "rx_continue": (
        "continue~", "keep going", "keep thinking", "go on", "carry on", "resume~", "pick up",
        "proceed with", "extend~", "the rest", "remainder", "继续", "接着", "续写",
        "continúa", "continua", "continuar", "continuez", "fortsetzen", "setze",
        "mach weiter", "続けて", "続き",
    ),
    # Re-encodings that only make sense to smuggle text past a filter.
    "rx_encode": (
        "base64", "base 64", "b64", "hex", "hexadecimal", "rot13", "rot 13", "caesar",
        "cipher", "morse", "binary", "leetspeak", "leet", "pig latin", "backwards",
        "reversed", "in reverse", "url encoded", "url encode~", "percent encoded",
        "unicode escape~", "escape sequences", "encode~", "encrypt~", "obfuscate~",
        "transcode~", "ascii codes",
        "编码", "十六进制", "二进制", "加密", "倒序", "摩斯",
        "codifica", "codificar", "codificado", "encodé", "encodez", "kodiere", "kodieren",
        "verschlüssele", "エンコード", "暗号化",
    ),
    # Markup and structure: weak alone ("answer in JSON with a reasoning field" is everyday
    # agent plumbing), evidence only with a hidden or specific trace.
    "rx_format": (
        "json", "yaml", "xml", "html", "markup", "code block", "code fence", "fenced",
        "markdown", "comment~", "tag~", "wrap~", "enclose~", "surround~", "delimit~",
        "details block", "serialize~", "serialise~",
        "标签", "代码块", "注释", "包裹", "json格式", "etiquetas", "balises",
    ),
    "rx_translate": (
        "translate~", "translation", "into english", "into french", "into chinese",
        "into german", "into spanish", "into japanese", "into korean", "into russian",
        "into italian", "into portuguese", "into swahili", "into arabic",
        "翻译", "译成", "译为", "翻成", "traduce", "traducir", "traduis", "traduisez",
        "traduire", "übersetze", "übersetzen", "翻訳",
    ),
    "rx_quote": (
        "repeat~", "quote~", "recite~", "restate~", "re post", "repost~", "echo~", "copy",
        "copies", "copied", "reproduce~", "cite~", "word for word", "verbatim",
        "unchanged", "unaltered", "exactly",
        "重复", "复述", "引用", "原样", "再说一遍", "原封不动", "一字不差",
        "repite", "repetir", "répète", "répétez", "wiederhole", "wiederholen",
        "繰り返して", "そのまま",
    ),
    # What the model thought, in the past: the trace behind an answer already given.
    "rx_past": (
        "what you thought", "what you were thinking", "were you thinking",
        "you were thinking", "you thought", "you reasoned", "through your head",
        "on in your head",
        "you deliberated", "thoughts you had",
        "thinking you did", "reasoning you did", "you did internally", "you reasoned internally",
        "lo que pensaste", "lo que pensabas", "ce que tu as pensé", "ce que tu pensais",
        "was du gedacht", "考えていたこと", "你刚才想", "你在想什么", "你想了什么",
        "你当时在想", "你脑子里", "在想什么", "想了什么", "想的内容", "刚才想",
    ),
    # The phase before the answer, where the hidden trace lives.
    "rx_pre": (
        "before answering", "before you answer", "before you answered", "before responding",
        "before you respond", "before you responded", "before you reply", "before you replied",
        "before replying", "before giving", "before you gave", "before the final answer",
        "before your final answer", "before the answer", "before your answer",
        "prior to answering", "while answering", "while you were answering",
        "while writing", "when you answered", "before you wrote",
        "antes de responder", "avant de répondre", "bevor du geantwortet",
        "bevor du antwortest", "回答する前", "回答之前", "回答前", "在回答之前",
    ),
    # An earlier turn of the conversation.
    "rx_prior": (
        "previous message", "previous turn", "previous reply", "previous response",
        "previous answer", "previous output", "last message", "last turn", "last reply",
        "last response", "last answer", "earlier answer", "earlier reply",
        "earlier response", "earlier", "a moment ago", "just now", "messages ago",
        "prior turn", "last time", "last three answers",
        "上一条", "上一轮", "上一个回答", "上一次", "上次", "刚才", "之前的回答",
        "mensaje anterior", "respuesta anterior", "message précédent", "réponse précédente",
        "vorherige antwort", "letzte antwort",
    ),
    # Keeping reasoning private: the opposite of extraction (operator prompts).
    "rx_conceal": (
        "do not show", "don't show", "do not reveal", "don't reveal", "never reveal",
        "do not output", "don't output", "do not include", "don't include", "never show",
        "never include", "never output", "do not print", "don't print", "do not display",
        "don't display", "do not expose", "without showing", "without revealing",
        "must never see", "never see", "will not see", "not see", "should not see",
        "silently", "reason internally", "think privately", "keep your reasoning hidden",
        "hidden from the user", "not visible to the user", "do not share", "don't share",
        "strip~", "remove~", "never be shown", "not be shown", "never shown",
        "must not be shown", "not be displayed", "never be revealed", "not be revealed",
        "never be displayed", "must never", "not reveal", "not show", "not output",
        "not print", "not display", "not disclose", "not share", "not include", "not expose",
        "不要展示", "不要显示", "不要输出", "不要透露", "不要公开", "默默",
    ),
    # Reasoning as a subject: questions about models, APIs, research and code.
    # Question openers such as "what is" are not here: a task question next to the request
    # ("print your hidden reasoning for this: what is 17 * 23?") says nothing about it.
    "rx_topic": (
        "why does", "why do", "why can't", "why cannot", "how does",
        "how do i", "how can i", "is it ethical", "paper", "papers",
        "literature", "research on", "blog post", "essay on", "history of", "explain what",
        "difference between", "for and against", "regex", "sdk", "frontend",
        "为什么", "什么是", "什么意思", "如何", "怎么", "科普", "论文",
    ),
    # The model told to *use* its reasoning (operator prompts), not to disclose it.
    "rx_use": (
        "use your", "using your", "rely on your", "apply your", "employ your",
        "leverage your", "draw on your", "use its", "用你的", "利用你的",
        # "Use chain of thought!" at the end of an operator prompt asks for a method.
        "use chain", "using chain", "use a chain", "apply chain", "with chain",
    ),
}

_ACT = "rx_show|rx_continue|rx_encode|rx_format|rx_translate|rx_quote"
# Markup around a specific trace is also a prompting technique ("put your chain of thought
# in <thinking> tags"): it counts only with a hidden qualifier.
_ACT_STRONG = "rx_show|rx_continue|rx_encode|rx_translate|rx_quote"
_TRACE = "rx_noun|rx_noun_strong"

# (id, weight, tags, window, support)
RX_CUE_ROWS: tuple[tuple[str, float, tuple[str, ...], int, bool], ...] = (
    # The core of the class: the model's own trace, qualified as hidden. Verbs of disclosure
    # are open-ended, so this flags without one; a verb makes it confident.
    ("rx.own_hidden", 0.75, ("rx_self", "rx_hidden", _TRACE), 3, False),
    ("rx.act_own_hidden", 0.60, (_ACT, "rx_self", "rx_hidden", _TRACE), 6, False),
    ("rx.own_strong", 0.20, ("rx_self", "rx_noun_strong"), 3, False),
    ("rx.act_own_strong", 0.65, (_ACT_STRONG, "rx_self", "rx_noun_strong"), 8, False),
    ("rx.act_hidden_strong", 0.40, (_ACT_STRONG, "rx_hidden", "rx_noun_strong"), 8, False),
    # Without an owner: pro-drop languages (Japanese, Chinese) often omit "your".
    ("rx.act_hidden", 0.30, (_ACT_STRONG, "rx_hidden", _TRACE), 4, False),
    ("rx.encode_hidden", 0.60, ("rx_encode", "rx_hidden", _TRACE), 8, False),
    ("rx.encode_own", 0.80, ("rx_encode", "rx_self", _TRACE), 10, False),
    ("rx.translate_own", 0.45, ("rx_translate", "rx_self", _TRACE), 8, False),
    ("rx.continue_own", 0.35, ("rx_continue", "rx_self", _TRACE), 6, False),
    ("rx.quote_prior", 0.30, ("rx_quote|rx_show", "rx_self", _TRACE, "rx_prior"), 12, False),
    ("rx.past_pre", 0.55, ("rx_past", "rx_pre"), 8, False),
    ("rx.act_past", 0.35, ("rx_quote|rx_show", "rx_past"), 6, False),
    ("rx.past_hidden", 0.45, ("rx_past", "rx_hidden"), 4, False),
    # Quoting the trace from before the answer presumes it exists; "give your reasoning
    # before the answer" is an ordinary output-format instruction.
    ("rx.quote_trace_pre", 0.70, ("rx_quote", "rx_self", _TRACE, "rx_pre"), 12, False),
    ("rx.act_trace_pre", 0.30, ("rx_show", "rx_self", _TRACE, "rx_pre"), 12, False),
    ("rx.format_own", 0.15, ("rx_format", "rx_self", _TRACE), 8, False),
    ("rx.verbatim", 0.20, ("rx_quote", _TRACE), 8, True),
    ("rx.conceal", -0.8, ("rx_conceal", _TRACE), 10, False),
    ("rx.topic", -0.5, ("rx_topic", _TRACE), 12, False),
    ("rx.use", -0.6, ("rx_use", _TRACE), 4, False),
)


for _concept, _words in _TYPO_WORDS.items():
    RX_CONCEPTS[_concept] += tuple(t for w in _words for t in _typos(w))
