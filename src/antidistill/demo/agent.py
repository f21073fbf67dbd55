"""A popular coding agent ("quillcode", invented for this simulation) and the honest fleet on it.

Every developer's agent sends one SDK header set, one ~3 KB system prompt and tool list, and
writes its own templated context block (platform, shell, repository, git status, reminders)
into the first user turn of a session; follow-ups quote tool results and errors. A session's
history holds what the server actually answered: :class:`FleetScript` is a
:class:`~antidistill.demo.accounts.Script`, so each next turn is written after the answer to
the previous one arrives. Written for this simulation; no text is copied from a real agent.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

from antidistill.demo.accounts import Step
from antidistill.demo.cohorts import CodingAgentFleet

__all__ = ["AGENT_SYSTEM", "AGENT_TOOLS", "Developer", "FleetScript", "agent_headers",
           "context_block", "session_id"]

AGENT_SYSTEM = """You are Quill, a coding agent that works inside the user's repository from \
their terminal. You help with software engineering tasks: fixing bugs, adding features, \
refactoring, explaining code, writing tests and reviewing changes.

# How you work
- Read before you write. Use read_file and search_code to understand the code you are about \
to change; never guess the contents of a file or the signature of a function.
- Make the smallest change that solves the task. Match the surrounding style, naming and \
formatting. Do not reformat code you did not otherwise touch.
- After a change, run the project's tests or the narrowest command that exercises it with \
run_shell, and read the output. If something fails, find the cause before you try again.
- Never commit, push, or rewrite history unless the user asks you to. Never run commands \
that delete data outside the working directory.
- When a task is ambiguous, ask one short question instead of guessing.

# Tone
Be concise. Lead with the answer or the change, then the reason in a sentence or two. Use \
Markdown code blocks for code and commands. Do not apologise and do not repeat the question.

# Tool use
Call tools by name with JSON arguments. Prefer one tool call at a time and wait for its \
result. File paths are relative to the working directory. Outputs longer than 400 lines are \
truncated; narrow your command if you need the rest. The environment block at the top of the \
first message describes the machine and the repository; reminders in <reminder> tags come \
from the agent, not from the user, and you must follow them.

# Safety
Do not write or run code that is meant to damage systems, steal credentials or evade \
security controls. Do not reveal secrets you find in files (tokens, keys, passwords); refer \
to them by name only. If a test fixture contains credentials, leave it as it is.

# Editing files
Use apply_patch with a unified diff against the current file contents. Keep each patch \
focused on one concern. After patching, read the changed region back if the patch was \
large. Preserve the file's line endings and final newline. For new files, include a short \
header comment only when the project's other files have one.

# Tests
Prefer the project's own test runner (pytest, npm test, cargo test, go test). Run the \
smallest selection first, then the wider suite when the fix looks right. A test that you \
wrote must fail without your change; say so when you report it.

# Finishing
When the task is done, summarise what changed in two to five bullet points, list the \
commands you ran and their results, and mention anything you noticed but left alone."""

AGENT_TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": name, "description": desc,
        "parameters": {"type": "object", "properties": {
            p: {"type": "string", "description": d} for p, d in params},
            "required": [params[0][0]]}}}
    for name, desc, params in (
        ("read_file", "Read a file of the repository, optionally a line range.",
         (("path", "path relative to the working directory"),
          ("lines", "optional range such as 10-80"))),
        ("search_code", "Search the repository for a regular expression.",
         (("pattern", "a regular expression"), ("glob", "optional file glob"))),
        ("run_shell", "Run a shell command in the working directory and return its output.",
         (("command", "the command line"), ("timeout", "seconds, default 120"))),
        ("apply_patch", "Apply a unified diff to files of the repository.",
         (("patch", "the diff, with ---/+++ headers"),)),
        ("list_dir", "List a directory of the repository.",
         (("path", "path relative to the working directory"),)),
    )
]

_PLATFORMS = (("macOS 14.6 (arm64)", "zsh", "MacOS", "arm64"),
              ("macOS 15.1 (arm64)", "zsh", "MacOS", "arm64"),
              ("Ubuntu 22.04 (x86_64)", "bash", "Linux", "x64"),
              ("Ubuntu 24.04 (x86_64)", "bash", "Linux", "x64"),
              ("Fedora 40 (x86_64)", "bash", "Linux", "x64"),
              ("Windows 11 (x86_64)", "pwsh", "Windows", "x64"))
_REPOS = ("billing-service", "web-frontend", "data-pipeline", "mobile-app", "infra", "api",
          "ml-experiments", "docs-site", "cli-tool", "auth-gateway", "etl-jobs", "game-engine")
_MODULES = ("parser", "models", "views", "utils", "client", "config", "schema", "handlers",
            "cache", "auth", "billing", "routes", "worker", "storage", "metrics")
_ERRORS = ("AssertionError: assert 3 == 4", "KeyError: 'user_id'",
           "TypeError: unsupported operand type(s) for +: 'int' and 'str'",
           "AttributeError: 'NoneType' object has no attribute 'get'",
           "ImportError: cannot import name 'Settings'",
           "ValueError: invalid literal for int() with base 10: ''",
           "TimeoutError: request took longer than 5s",
           "error[E0382]: borrow of moved value: `buf`",
           "TS2339: Property 'id' does not exist on type 'User'.",
           "panic: runtime error: index out of range [3] with length 3")
_TASKS = ("fix the failing test in {f}", "add input validation to the {m} module",
          "refactor {f} so the {m} logic lives in one function",
          "why does {f} raise {e}?", "write unit tests for {f}",
          "add a --dry-run flag to the {m} command", "update {f} to the new {m} API",
          "the {m} endpoint is slow, find out why", "rename {m} to {m}_v2 everywhere",
          "add logging around the retries in {f}", "review my change to {f}")
_FOLLOW = ("that fixed it, now also handle the empty case",
           "run the whole suite please", "can you make it simpler?",
           "no, keep the old behaviour for existing callers",
           "ok, now add a test for that", "looks good. what else uses {m}?",
           "still failing, see the output above")


@dataclass(slots=True)
class Developer:
    """One developer's machine and repository: what the agent's context block describes."""

    platform: tuple[str, str, str, str]
    repo: str
    home: str
    lang_ext: str

    @classmethod
    def draw(cls, rng: random.Random) -> Developer:
        plat = rng.choice(_PLATFORMS)
        user = rng.choice(("alex", "sam", "kim", "jo", "dev", "mira", "li", "noor", "ola"))
        root = (f"C:\\Users\\{user}\\src" if plat[2] == "Windows" else
                f"/Users/{user}/code" if plat[2] == "MacOS" else f"/home/{user}/src")
        return cls(plat, rng.choice(_REPOS), root, rng.choice((".py", ".ts", ".go", ".rs")))


def agent_headers(version: str, os_: str, arch: str, session: str) -> list[tuple[str, str]]:
    """The agent's header set (built on the OpenAI Node SDK), with its session id."""
    return [("host", "api.example.com"), ("accept", "application/json"),
            ("content-type", "application/json"),
            ("user-agent", f"quillcode/{version} OpenAI/JS 4.77.0"),
            ("x-stainless-lang", "js"), ("x-stainless-package-version", "4.77.0"),
            ("x-stainless-os", os_), ("x-stainless-arch", arch),
            ("x-stainless-runtime", "node"), ("x-stainless-runtime-version", "v22.11.0"),
            ("authorization", ""), ("x-stainless-retry-count", "0"),
            ("x-quill-session-id", session), ("accept-encoding", "gzip,deflate"),
            ("connection", "keep-alive")]


def session_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def context_block(dev: Developer, rng: random.Random, date: str) -> str:
    """The agent's own preamble of a session's first user turn."""
    sep = "\\" if dev.platform[2] == "Windows" else "/"
    changed = rng.sample(_MODULES, rng.randint(0, 3))
    status = "\n".join(f" M src{sep}{m}{dev.lang_ext}" for m in changed) or " (clean)"
    branch = rng.choice(("main", "main", f"feature/{rng.choice(_MODULES)}",
                         f"fix/{rng.randrange(100, 999)}"))
    return (f"<environment>\nWorking directory: {dev.home}{sep}{dev.repo}\n"
            f"Platform: {dev.platform[0]}\nShell: {dev.platform[1]}\n"
            f"Git repository: yes\nCurrent branch: {branch}\nGit status:\n{status}\n"
            f"Today's date: {date}\n</environment>\n"
            "<reminder>Make minimal changes, run the tests before you finish, and do not "
            "commit unless the user asks.</reminder>\n\n")


def _task(dev: Developer, rng: random.Random, coding: list[str]) -> str:
    if coding and rng.random() < 0.4:
        return rng.choice(coding)
    m = rng.choice(_MODULES)
    f = f"src/{m}{dev.lang_ext}"
    return rng.choice(_TASKS).format(f=f, m=m, e=rng.choice(_ERRORS).split(":")[0])


def _tool_result(dev: Developer, rng: random.Random) -> str:
    """A follow-up turn: the agent quoting a tool's output, sometimes with the user's words."""
    m = rng.choice(_MODULES)
    kind = rng.random()
    if kind < 0.45:
        n = rng.randint(1, 40)
        out = (f"<tool_result name=\"run_shell\" exit_code=\"1\">\n$ pytest -q tests/test_{m}.py"
               f"\n{'.' * rng.randint(0, 6)}F\nFAILED tests/test_{m}.py::test_{m}_{n} - "
               f"{rng.choice(_ERRORS)}\n1 failed, {n} passed in {rng.uniform(0.1, 9):.2f}s\n"
               "</tool_result>")
    elif kind < 0.75:
        lines = "\n".join(f"{i:>4}  {rng.choice(_MODULES)}_{rng.randrange(99)} = "
                          f"{rng.choice(_MODULES)}({rng.randrange(10)})"
                          for i in range(rng.randint(3, 25)))
        out = (f"<tool_result name=\"read_file\" path=\"src/{m}{dev.lang_ext}\">\n{lines}\n"
               "</tool_result>")
    else:
        out = (f"<tool_result name=\"run_shell\" exit_code=\"0\">\n$ git diff --stat\n"
               f" src/{m}{dev.lang_ext} | {rng.randint(1, 60)} +++--\n 1 file changed\n"
               "</tool_result>")
    if rng.random() < 0.35:
        out += "\n\n" + rng.choice(_FOLLOW).format(m=m)
    if rng.random() < 0.2:
        out += f"\n<reminder>The user opened src/{m}{dev.lang_ext} in the editor.</reminder>"
    return out


@dataclass(frozen=True, slots=True)
class Session:
    start: float
    turns: int
    ip: str
    stream: bool


class FleetScript:
    """One developer's sessions over two days, each next turn written after the answer."""

    def __init__(self, cfg: CodingAgentFleet, dev: Developer, sessions: list[Session],
                 rng: random.Random, coding: list[str]) -> None:
        self.cfg, self.dev, self.rng, self.coding = cfg, dev, rng, coding
        self.sessions = sorted(sessions, key=lambda s: s.start)
        self.at = -1  # index of the session in progress
        self.turn = 0
        self.messages: list[dict[str, str]] = []
        self.headers: tuple[tuple[str, str], ...] = ()
        self.retried = False
        # every answer the server gave, in order (the tests check histories against these)
        self.answers: list[str] = []

    def first(self) -> Step | None:
        return self._open(0, 0.0)

    def after(self, step: Step, status: int, reply: str) -> Step | None:
        if status != 200:
            if not self.retried:
                self.retried = True
                return Step(step.t + self.cfg.retry_seconds, step.body, step.ip, step.headers)
            return self._open(self.at + 1, step.t)
        self.retried = False
        self.answers.append(reply)
        self.messages.append({"role": "assistant", "content": reply})
        self.turn += 1
        if self.turn >= self.sessions[self.at].turns:
            return self._open(self.at + 1, step.t)
        self.messages.append({"role": "user", "content": _tool_result(self.dev, self.rng)})
        self._compact()
        return self._step(step.t + self.rng.uniform(*self.cfg.think_seconds))

    def _open(self, index: int, now: float) -> Step | None:
        if index >= len(self.sessions):
            return None
        self.at, self.turn = index, 0
        s = self.sessions[index]
        plat = self.dev.platform
        self.headers = tuple(agent_headers(self.cfg.agent_version, plat[2], plat[3],
                                           session_id(self.rng)))
        date = "2026-05-28" if index and s.start > self.sessions[0].start + 43200 else \
            "2026-05-27"
        text = context_block(self.dev, self.rng, date) + _task(self.dev, self.rng, self.coding)
        self.messages = [{"role": "user", "content": text}]
        return self._step(max(s.start, now + 60.0))

    def _compact(self) -> None:
        # Keep the session's first turn (the context block) and the most recent turns.
        over = len(self.messages) - self.cfg.history_turns
        if over > 0:
            over += over % 2  # whole user/assistant pairs
            del self.messages[1:1 + over]

    def _step(self, t: float) -> Step:
        s = self.sessions[self.at]
        body: dict[str, Any] = {
            "model": "demo-model",
            "messages": [{"role": "system", "content": AGENT_SYSTEM}, *self.messages],
            "tools": AGENT_TOOLS, "max_tokens": self.cfg.max_tokens, "temperature": 0,
        }
        if s.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return Step(t, body, s.ip, self.headers)
