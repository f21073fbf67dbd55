"""The harder simulated day (issue #12): honest fleets that look like campaigns, and campaigns
that look like honest users. ``Population(seed, harder=VARIANTS[name])`` adds these cohorts to
the default day's (which it leaves exactly as they were); their constants live in
:mod:`antidistill.demo.cohorts`, their texts in :mod:`antidistill.demo.phrasings`.

Honest: ``coding_agent`` (a fleet on one coding agent, see :mod:`antidistill.demo.agent`) and
``page_summary`` (a browser extension's one template around the page a user reads).
Campaigns: ``evasive_hydra`` (a paraphrase per account, browser stacks, a new residential exit
per request, human think times), ``spread_thin`` (thousands of accounts, one or two requests
each over the whole day), ``fake_history`` (multi-turn requests with assistant turns the server
never produced) and ``forged_agent`` (a relay forging the coding agent's headers, system prompt
and context block with a fresh session id per request). The templated ``hydra`` grows to
``templated_hydra_accounts``.

Seeds and variants: tune on seeds 7 and 8 with variant ``tune``; report on seeds 11, 12 and 13
with variant ``report`` (other phrasings, templates, payloads, sizes and rhythms), and on the
``tune`` variant for those seeds as a second check.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

from antidistill.demo.accounts import Account, ListScript, Step
from antidistill.demo.agent import (
    AGENT_SYSTEM,
    AGENT_TOOLS,
    Developer,
    FleetScript,
    Session,
    agent_headers,
    context_block,
    session_id,
)
from antidistill.demo.cohorts import HarderDay
from antidistill.demo.networks import BUSINESS, HOSTING, AddressPlan
from antidistill.demo.phrasings import EVASIVE, FAKE_ASK, PAGE_TEMPLATES, RELAY, SPREAD_THIN

if TYPE_CHECKING:
    from antidistill.demo.simulate import Population

__all__ = ["CAMPAIGNS", "HONEST", "browser_stack", "build_harder", "extension_stack"]

DAY = 86400.0
HONEST = ("coding_agent", "page_summary")
CAMPAIGNS = ("evasive_hydra", "spread_thin", "fake_history", "forged_agent")
_CODE_WORDS = ("python", "function", "code", "script", "sql", "javascript", "class ",
               "implement", "bug", "regex", "api")
_SITES = ("news.example.com", "blog.example.net", "docs.example.org", "wiki.example.com",
          "shop.example.co", "forum.example.io", "journal.example.edu")


def browser_stack(rng: random.Random) -> list[tuple[str, str]]:
    """A real browser's request headers (Chrome, Edge, Firefox or Safari; versions vary)."""
    lang = rng.choice(("en-US,en;q=0.9", "en-GB,en;q=0.8", "de-DE,de;q=0.9,en;q=0.7",
                       "fr-FR,fr;q=0.9,en;q=0.6", "es-ES,es;q=0.9", "pt-BR,pt;q=0.9,en;q=0.8"))
    kind = rng.random()
    if kind < 0.55:
        v = rng.choice((129, 130, 131, 132))
        brand = "Google Chrome" if kind < 0.45 else "Microsoft Edge"
        os_ua = rng.choice(("Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7",
                            "X11; Linux x86_64"))
        ua = (f"Mozilla/5.0 ({os_ua}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
              f"Safari/537.36" + (f" Edg/{v}.0.0.0" if brand == "Microsoft Edge" else ""))
        return [("host", "api.example.com"), ("connection", "keep-alive"),
                ("sec-ch-ua", f'"{brand}";v="{v}", "Chromium";v="{v}", "Not_A Brand";v="24"'),
                ("sec-ch-ua-mobile", "?0"), ("authorization", ""), ("user-agent", ua),
                ("content-type", "application/json"), ("accept", "*/*"),
                ("origin", "https://chat.example.org"), ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "cors"), ("sec-fetch-dest", "empty"),
                ("accept-encoding", "gzip, deflate, br, zstd"), ("accept-language", lang)]
    if kind < 0.8:
        v = rng.choice((131, 132, 133))
        ua = f"Mozilla/5.0 ({rng.choice(('Windows NT 10.0; Win64; x64', 'X11; Linux x86_64'))}; " \
             f"rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
        return [("host", "api.example.com"), ("user-agent", ua), ("accept", "*/*"),
                ("accept-language", lang), ("accept-encoding", "gzip, deflate, br, zstd"),
                ("content-type", "application/json"), ("authorization", ""),
                ("origin", "https://chat.example.org"), ("connection", "keep-alive"),
                ("sec-fetch-dest", "empty"), ("sec-fetch-mode", "cors"),
                ("sec-fetch-site", "cross-site"), ("priority", "u=4"), ("te", "trailers")]
    sv = rng.choice(("17.6", "18.1", "18.2"))
    return [("host", "api.example.com"), ("content-type", "application/json"), ("accept", "*/*"),
            ("authorization", ""), ("sec-fetch-site", "cross-site"),
            ("accept-language", lang), ("accept-encoding", "gzip, deflate, br"),
            ("sec-fetch-mode", "cors"), ("origin", "https://chat.example.org"),
            ("user-agent", f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                           f"(KHTML, like Gecko) Version/{sv} Safari/605.1.15"),
            ("sec-fetch-dest", "empty"), ("connection", "keep-alive")]


def extension_stack(chrome: int) -> list[tuple[str, str]]:
    """The page-summary browser extension's requests (its background worker in Chrome)."""
    return [("host", "api.example.com"), ("connection", "keep-alive"),
            ("sec-ch-ua", f'"Google Chrome";v="{chrome}", "Chromium";v="{chrome}", '
                          '"Not_A Brand";v="24"'),
            ("sec-ch-ua-mobile", "?0"), ("authorization", ""),
            ("user-agent", f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                           f"(KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36"),
            ("content-type", "application/json"), ("x-pagewise-version", "3.2.0"),
            ("accept", "*/*"), ("origin", "chrome-extension://kpbdmhlfgoijnacpeplmbhekjoedgnkm"),
            ("sec-fetch-site", "none"), ("sec-fetch-mode", "cors"), ("sec-fetch-dest", "empty"),
            ("accept-encoding", "gzip, deflate, br, zstd"), ("accept-language", "en-US,en;q=0.9")]


def _openai_sdk(rng: random.Random) -> list[tuple[str, str]]:
    from antidistill.demo.clients import _openai_python

    return _openai_python(rng.choice(("1.66.3", "1.66.3", "1.59.7", "1.55.0")),
                          rng.choice(("Linux", "MacOS", "Windows")))


class _Builder:
    """Builds the harder cohorts into a population, from their own random generator."""

    def __init__(self, pop: Population, cfg: HarderDay, day_start: float) -> None:
        self.pop, self.cfg, self.day = pop, cfg, day_start
        self.r = random.Random(pop.seed * 104729 + 17)
        self.net = AddressPlan(random.Random(pop.seed * 15485863 + 3))
        self.half = 0 if cfg.variant == "tune" else 1
        corpus = pop.corpus
        texts = [t["text"] for name in ("arena-hard", "koala", "self-instruct",
                                        "awesome-chatgpt-prompts") for t in corpus.get(name, [])]
        self.page_texts = texts
        qs = [g["text"] for g in corpus.get("gsm8k", [])] + [
            t["text"][:600] for t in corpus.get("arena-hard", [])]
        self.questions = qs[self.half::2]  # tune and report use disjoint payloads
        self.coding = [t for t in (x["text"] for x in corpus.get("arena-hard", []))
                       if len(t) < 1500 and any(w in t.lower() for w in _CODE_WORDS)]

    def pool(self, pools: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
        return pools[self.cfg.variant if self.cfg.variant in pools else "tune"]

    def count(self, n: int) -> int:
        return max(1, int(round(n * self.pop.scale)))

    def key(self, cohort: str) -> str:
        self.pop._n += 1
        return f"sk-{cohort}-{self.pop._n:06d}-{self.r.getrandbits(48):012x}"

    def days(self) -> tuple[float, ...]:
        """The days the honest fleets are active: yesterday (history) and today, or only
        today when they launch on the measured day."""
        return (self.day - DAY, self.day) if self.cfg.honest_history else (self.day,)

    def hours(self, span: tuple[float, float], day: float | None = None) -> float:
        return (self.day if day is None else day) + self.r.uniform(*span) * 3600

    def add(self, cohort: str, campaign: bool, ip: str, headers: list[tuple[str, str]],
            steps: list[Step]) -> Account:
        acct = Account(self.key(cohort), cohort, campaign, ip, headers,
                       script=ListScript(steps))
        self.pop.accounts.append(acct)
        return acct

    def fleet(self) -> None:
        c = self.cfg.fleet
        r = self.r
        offices = [self.net.fresh(BUSINESS[i % len(BUSINESS)][0]) for i in range(c.teams)]
        for _ in range(self.count(c.developers)):
            dev = Developer.draw(r)
            home = self.net.home()
            office = r.choice(offices) if r.random() < 0.7 else None
            stream = r.random() < c.stream_share
            sessions = []
            for day in self.days():
                for _ in range(r.randint(*c.sessions_per_day)):
                    start = self.hours(c.session_hours, day)
                    at_work = office is not None and \
                        c.office_hours[0] <= (start - day) / 3600 < c.office_hours[1]
                    sessions.append(Session(start, r.randint(*c.turns_per_session),
                                            office if at_work and office else home, stream))
            script = FleetScript(c, dev, sessions, random.Random(r.getrandbits(64)),
                                 self.coding)
            headers = agent_headers(c.agent_version, dev.platform[2], dev.platform[3], "")
            self.pop.accounts.append(Account(self.key("agent"), "coding_agent", False, home,
                                             headers, script=script))

    def page_summary(self) -> None:
        c = self.cfg.page_summary
        r = self.r
        for _ in range(self.count(c.users)):
            nets = [self.net.home() for _ in range(r.randint(*c.networks_per_user))]
            steps = []
            for day in self.days():
                for _ in range(r.randint(*c.requests_per_day)):
                    steps.append(Step(self.hours(c.day_hours, day), self._page_body(),
                                      r.choice(nets)))
            if not steps:
                steps.append(Step(self.hours(c.day_hours), self._page_body(), nets[0]))
            self.add("page_summary", False, nets[0], extension_stack(r.choice((130, 131, 131))),
                     steps)

    def _page_body(self) -> dict[str, Any]:
        r = self.r
        c = self.cfg.page_summary
        parts = [r.choice(self.page_texts) for _ in range(r.randint(*c.page_parts))]
        page = "\n\n".join(parts)[:c.page_chars]
        title = " ".join(parts[0].split()[:8])
        url = f"https://{r.choice(_SITES)}/{r.randrange(1000, 99999)}/" + \
            "-".join(w.lower() for w in title.split()[:4] if w.isalnum())
        tmpl = PAGE_TEMPLATES[0] if r.random() < 0.8 else r.choice(PAGE_TEMPLATES[1:])
        return {"model": "demo-model", "max_tokens": 600, "temperature": 0.3,
                "messages": [{"role": "user",
                              "content": tmpl.format(title=title, url=url, page=page)}]}

    def evasive(self) -> None:
        c = self.cfg.evasive
        r = self.r
        phrasings = self.pool(EVASIVE)
        lo, hi = math.log(c.think_seconds[0]), math.log(c.think_seconds[1])
        for i in range(self.count(c.accounts)):
            tmpl = phrasings[i % len(phrasings)]
            t = self.hours(c.start_hours)
            ip: str | None = None
            steps = []
            for _ in range(r.randint(*c.requests)):
                ip = self.net.rotating_exit(ip, c.new_asn_share)
                body: dict[str, Any] = {"model": "demo-model", "messages": [
                    {"role": "user", "content": tmpl.format(q=r.choice(self.questions))}]}
                cap = r.choice(c.max_tokens)
                if cap:
                    body["max_tokens"] = cap
                steps.append(Step(t, body, ip))
                t += math.exp(r.uniform(lo, hi))
            self.add("evasive_hydra", True, steps[0].ip or "", browser_stack(r), steps)

    def spread_thin(self) -> None:
        c = self.cfg.spread_thin
        r = self.r
        templates = self.pool(SPREAD_THIN)
        for i in range(self.count(c.accounts)):
            tmpl = templates[i % len(templates)]
            t = self.hours(c.day_hours)
            ip = self.net.home()
            steps = []
            for _ in range(r.randint(*c.requests)):
                body = {"model": "demo-model", "temperature": 0.7, "messages": [
                    {"role": "user", "content": tmpl.format(q=r.choice(self.questions))}]}
                steps.append(Step(t, body, ip))
                t += r.uniform(*c.gap_seconds)
                ip = self.net.home() if r.random() < 0.5 else ip
            stack = _openai_sdk(r) if r.random() < c.official_sdk_share else browser_stack(r)
            self.add("spread_thin", True, steps[0].ip or "", stack, steps)

    def fake_history(self) -> None:
        c = self.cfg.fake_history
        r = self.r
        asks = self.pool(FAKE_ASK)
        subnets = [self.net.home().rsplit(".", 1)[0] for _ in range(c.proxy_subnets)]
        for _ in range(self.count(c.accounts)):
            t = self.hours(c.start_hours)
            steps = []
            for _ in range(r.randint(*c.requests)):
                msgs: list[dict[str, str]] = []
                for _ in range(r.randint(*c.fake_turns)):
                    msgs.append({"role": "user", "content": r.choice(self.questions)})
                    msgs.append({"role": "assistant", "content": self._fake_answer()})
                msgs.append({"role": "user",
                             "content": r.choice(asks).format(q=r.choice(self.questions))})
                body = {"model": "demo-model", "max_tokens": 4096, "messages": msgs}
                steps.append(Step(t, body, f"{r.choice(subnets)}.{r.randrange(2, 254)}"))
                t += r.uniform(*c.gap_seconds)
            self.add("fake_history", True, steps[0].ip or "", _openai_sdk(r), steps)

    def _fake_answer(self) -> str:
        """An "earlier answer" the server never gave: a stitched, plausible-looking reply."""
        r = self.r
        words = " ".join(r.choice(self.page_texts).split()[:r.randint(20, 90)])
        return (f"{r.choice(('Sure.', 'Here is the answer.', 'Good question.', 'Okay.'))} "
                f"{words}\n\nFinal answer: {r.randrange(2, 5000)}")

    def forged(self) -> None:
        c = self.cfg.forged
        r = self.r
        payloads = self.pool(RELAY)
        servers = [self.net.fresh(HOSTING[i % len(HOSTING)][0]) for i in range(c.relay_subnets)]
        version = self.cfg.fleet.agent_version
        for _ in range(self.count(c.accounts)):
            dev = Developer.draw(r)
            t = self.hours(c.start_hours)
            steps = []
            for _ in range(r.randint(*c.requests)):
                text = context_block(dev, r, "2026-05-28") + r.choice(payloads).format(
                    q=r.choice(self.questions))
                body = {"model": "demo-model", "messages": [
                    {"role": "system", "content": AGENT_SYSTEM},
                    {"role": "user", "content": text}],
                    "tools": AGENT_TOOLS, "max_tokens": self.cfg.fleet.max_tokens,
                    "temperature": 0}
                headers = agent_headers(version, dev.platform[2], dev.platform[3],
                                        session_id(r))
                steps.append(Step(t, body, r.choice(servers), tuple(headers)))
                t += r.uniform(*c.gap_seconds)
            self.add("forged_agent", True, servers[0],
                     agent_headers(version, dev.platform[2], dev.platform[3], ""), steps)


def build_harder(pop: Population, cfg: HarderDay, day_start: float) -> None:
    """Add the harder day's cohorts to ``pop.accounts`` (after the default day's)."""
    b = _Builder(pop, cfg, day_start)
    b.fleet()
    b.page_summary()
    b.evasive()
    b.spread_thin()
    b.fake_history()
    b.forged()
