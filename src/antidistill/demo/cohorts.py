"""Every constant of the simulated days' cohorts, in one place, one frozen dataclass per cohort.

``DEFAULT`` is the default day's (``antidistill.demo.simulate``), ``HARDER`` the cohorts the
harder day adds (``antidistill.demo.harder``). Vary a cohort with
:func:`dataclasses.replace`, e.g. ``replace(HARDER, evasive=replace(HARDER.evasive,
accounts=2000))``. Times are seconds, hours
are hours of the simulated day (UTC), ``(low, high)`` pairs are uniform ranges. Sizes are
multiplied by the population's ``scale`` (at least one account each).

``VARIANTS`` holds the traffic models: ``tune`` (to tune detection on) and ``report`` (to
report on: other phrasings, templates, sizes and timing). See ``antidistill.demo.harder``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DEFAULT", "HARDER", "VARIANTS", "Casual", "CodingAgentFleet", "DefaultDay",
           "EvasiveHydra", "FakeHistoryHydra", "ForgedAgentRelay", "Framework", "Grading",
           "HarderDay", "Harvester", "HeavyApps", "Office", "PageSummaryUsers", "RunawayLoop",
           "SpreadThinHydra", "Students", "SyspromptExtraction", "TemplatedHydra"]


# -- the default day's cohorts (``demo.simulate``) ------------------------------------------
@dataclass(frozen=True, slots=True)
class Casual:
    """Light users with real prompts, a mix of client stacks, yesterday and today."""

    accounts: int = 1500
    requests: tuple[int, int] = (1, 16)


@dataclass(frozen=True, slots=True)
class HeavyApps:
    """A few company accounts sending templated requests round the clock (one per template)."""

    requests: tuple[int, ...] = (3000, 3000, 1200)  # per app, over two days
    jitter: float = 0.1  # of the regular interval
    payload_chars: int = 400


@dataclass(frozen=True, slots=True)
class Framework:
    """Developers on one agent framework: its system prompts, one SDK, templated user turns."""

    developers: int = 300
    requests: tuple[int, int] = (6, 40)
    sdk_versions: tuple[str, ...] = ("1.66.3", "1.66.3", "1.59.7")
    temperature: float = 0.7


@dataclass(frozen=True, slots=True)
class Students:
    accounts: int = 200
    requests: tuple[int, int] = (2, 10)


@dataclass(frozen=True, slots=True)
class Office:
    """Accounts of one company behind a NAT of a few addresses."""

    accounts: int = 50
    nat_addresses: int = 4
    requests: tuple[int, int] = (3, 20)


@dataclass(frozen=True, slots=True)
class RunawayLoop:
    """One developer's retry loop: over the request budget and nothing else."""

    requests: int = 240
    interval: float = 0.5
    start_hour: float = 10.5


@dataclass(frozen=True, slots=True)
class TemplatedHydra:
    """Fresh accounts sending templated prompts a few times each (size: ``hydra_accounts``)."""

    proxy_subnets: int = 40
    start_hour: float = 8.0
    spread_hours: float = 12.0  # first requests spread over this span
    jitter_seconds: float = 600.0
    requests: tuple[int, int] = (3, 8)
    gap_seconds: tuple[float, float] = (90.0, 400.0)
    max_tokens: int = 4096
    temperature: float = 0.6


@dataclass(frozen=True, slots=True)
class Harvester:
    """One loud account: log-probs at the maximum, a temperature sweep, two-second bursts."""

    requests: int = 1500
    interval: float = 2.0
    start_hour: float = 3.0


@dataclass(frozen=True, slots=True)
class SyspromptExtraction:
    accounts: int = 5
    requests: int = 4
    hours: tuple[float, float] = (14.0, 15.0)


@dataclass(frozen=True, slots=True)
class Grading:
    """A reward-model grading campaign from a small pool of subnets."""

    accounts: int = 200
    subnets: int = 8
    start_hour: float = 16.0
    stagger_seconds: float = 60.0  # between accounts' first requests
    requests: tuple[int, int] = (3, 6)
    gap_seconds: tuple[float, float] = (60.0, 200.0)


@dataclass(frozen=True, slots=True)
class DefaultDay:
    """The default day's cohorts (``Population(cohorts=...)`` varies them)."""

    casual: Casual = field(default_factory=Casual)
    heavy: HeavyApps = field(default_factory=HeavyApps)
    framework: Framework = field(default_factory=Framework)
    students: Students = field(default_factory=Students)
    office: Office = field(default_factory=Office)
    loop: RunawayLoop = field(default_factory=RunawayLoop)
    hydra: TemplatedHydra = field(default_factory=TemplatedHydra)
    harvester: Harvester = field(default_factory=Harvester)
    sysprompt: SyspromptExtraction = field(default_factory=SyspromptExtraction)
    grading: Grading = field(default_factory=Grading)


DEFAULT = DefaultDay()


# -- the harder day's cohorts (``demo.harder``) ---------------------------------------------
@dataclass(frozen=True, slots=True)
class CodingAgentFleet:
    """Honest developers on one coding agent: one SDK header set, one system prompt and tool
    list, the agent's own context block in the first user turn, tool results quoted in the
    follow-ups, long sessions whose history holds the server's real answers."""

    developers: int = 300
    teams: int = 40  # developers share an office network per team
    sessions_per_day: tuple[int, int] = (1, 3)
    turns_per_session: tuple[int, int] = (4, 18)
    think_seconds: tuple[float, float] = (6.0, 120.0)  # tool run + reading, between turns
    session_hours: tuple[float, float] = (7.0, 23.0)  # when sessions start
    office_hours: tuple[float, float] = (9.0, 18.0)  # sessions from the office network
    stream_share: float = 0.6
    max_tokens: int = 8192
    history_turns: int = 24  # the agent compacts older turns away beyond this many messages
    retry_seconds: float = 30.0  # after a non-200 answer the agent retries once
    agent_version: str = "2.4.1"


@dataclass(frozen=True, slots=True)
class PageSummaryUsers:
    """Honest users of a browser extension that wraps the page they read in one template."""

    users: int = 1000
    requests_per_day: tuple[int, int] = (0, 4)
    networks_per_user: tuple[int, int] = (1, 3)  # home, mobile, work, cafe...
    page_parts: tuple[int, int] = (2, 6)  # corpus texts joined into one "page"
    page_chars: int = 6000
    day_hours: tuple[float, float] = (6.0, 24.0)


@dataclass(frozen=True, slots=True)
class EvasiveHydra:
    """Fresh accounts, one paraphrase each, real browser stacks, a new residential exit for
    every request, human think times."""

    accounts: int = 1000
    requests: tuple[int, int] = (3, 8)
    think_seconds: tuple[float, float] = (40.0, 900.0)  # log-uniform
    start_hours: tuple[float, float] = (7.0, 21.0)
    new_asn_share: float = 0.7  # exits drawn from another ISP range than the last one
    max_tokens: tuple[int, ...] = (0, 2048, 4000)  # 0: not sent


@dataclass(frozen=True, slots=True)
class SpreadThinHydra:
    """Thousands of accounts with one or two requests each, spread over the whole day."""

    accounts: int = 4000
    requests: tuple[int, int] = (1, 2)
    gap_seconds: tuple[float, float] = (300.0, 5400.0)  # between an account's two requests
    day_hours: tuple[float, float] = (0.0, 24.0)
    official_sdk_share: float = 0.8  # else a browser stack


@dataclass(frozen=True, slots=True)
class FakeHistoryHydra:
    """Multi-turn requests whose assistant turns the server never produced."""

    accounts: int = 400
    requests: tuple[int, int] = (3, 7)
    fake_turns: tuple[int, int] = (1, 3)  # fabricated user/assistant pairs per request
    gap_seconds: tuple[float, float] = (20.0, 400.0)
    start_hours: tuple[float, float] = (9.0, 20.0)
    proxy_subnets: int = 60  # residential /24s it rotates through


@dataclass(frozen=True, slots=True)
class ForgedAgentRelay:
    """A relay that forges the coding agent's headers, system prompt and context block (a fresh
    session id per request) to carry campaign payloads for its customers' accounts."""

    accounts: int = 300
    requests: tuple[int, int] = (3, 10)
    gap_seconds: tuple[float, float] = (5.0, 240.0)
    start_hours: tuple[float, float] = (6.0, 22.0)
    relay_subnets: int = 6  # the relay's own servers (a hosting provider)


@dataclass(frozen=True, slots=True)
class HarderDay:
    """The harder day: the default day's cohorts plus these, and a larger templated hydra."""

    variant: str = "tune"
    default: DefaultDay = DEFAULT  # the default day's cohorts, which the harder day keeps
    templated_hydra_accounts: int = 1500
    templated_hydra_templates: str = "plain"  # or "short" (see demo.simulate)
    fleet: CodingAgentFleet = field(default_factory=CodingAgentFleet)
    page_summary: PageSummaryUsers = field(default_factory=PageSummaryUsers)
    evasive: EvasiveHydra = field(default_factory=EvasiveHydra)
    spread_thin: SpreadThinHydra = field(default_factory=SpreadThinHydra)
    fake_history: FakeHistoryHydra = field(default_factory=FakeHistoryHydra)
    forged: ForgedAgentRelay = field(default_factory=ForgedAgentRelay)
    # False: the honest fleets (coding agent, page summary) launch on the measured day, with
    # no history yesterday, so everything they share is new (``detection.py --launch``).
    honest_history: bool = True


HARDER = HarderDay()
VARIANTS: dict[str, HarderDay] = {
    "tune": HARDER,
    # Another traffic model for reporting: other sizes, rhythms and session shapes (and, in
    # ``harder``, the other half of every phrasing pool).
    "report": HarderDay(
        variant="report",
        default=DefaultDay(
            hydra=TemplatedHydra(start_hour=6.0, spread_hours=16.0, gap_seconds=(60.0, 900.0)),
            grading=Grading(start_hour=12.0, stagger_seconds=90.0)),
        templated_hydra_accounts=1200,
        templated_hydra_templates="short",
        fleet=CodingAgentFleet(developers=320, teams=25, sessions_per_day=(1, 4),
                               turns_per_session=(3, 22), think_seconds=(4.0, 200.0),
                               stream_share=0.4, agent_version="2.5.0"),
        page_summary=PageSummaryUsers(users=1100, requests_per_day=(0, 5),
                                      networks_per_user=(1, 4)),
        evasive=EvasiveHydra(accounts=1000, requests=(3, 6), think_seconds=(25.0, 1500.0),
                             start_hours=(5.0, 23.0), new_asn_share=0.5),
        spread_thin=SpreadThinHydra(accounts=5000, gap_seconds=(120.0, 9000.0),
                                    official_sdk_share=0.6),
        fake_history=FakeHistoryHydra(accounts=350, requests=(3, 6), fake_turns=(1, 4),
                                      proxy_subnets=120),
        forged=ForgedAgentRelay(accounts=260, requests=(3, 8), gap_seconds=(2.0, 600.0),
                                relay_subnets=3),
    ),
}
