"""What a simulated society plants: its configuration, the result of a run, and the planted truth it wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RoleProfile", "SimulationConfig", "SimulationResult", "load_truth", "DEFAULT_ROLES"]

TRUTH_VERSION = 1
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
ROLE_NAMES = ("hub", "broadcaster", "conversationalist", "periphery")


@dataclass(frozen=True)
class RoleProfile:
    """What an active agent of one structural role does, on average, before its lognormal multiplier.

    Parameters
    ----------
    name : the role's label in the truth (``hub``, ``broadcaster``, ``conversationalist``, ``periphery``).
    share : share of active agents with this role.
    posts_per_day, comments_per_day : expected background posts and comments per day.
    reply_share : share of its comments that reply to another comment (the rest are top-level).
    post_appeal : relative chance that a comment lands in a thread it started.
    comment_appeal : relative chance that a reply in a thread goes to one of its comments.
    reciprocity : how readily it answers replies and keeps a back-and-forth going: a reply between agents with
        reciprocities ``r_a`` and ``r_b`` is answered with probability ``sqrt(r_a r_b)``.
    activity_sigma : sigma of the lognormal (mean 1) multiplier of each agent's activity and appeal: heavy tails
        within the role.
    min_comments : fewest background comments an agent of this role writes.
    home_share : share of its comments that stay in the threads of one home submolt.
    root_share : share of the cascades that agents of this role start.
    """

    name: str
    share: float
    posts_per_day: float
    comments_per_day: float
    reply_share: float
    post_appeal: float
    comment_appeal: float
    reciprocity: float
    activity_sigma: float = 0.6
    min_comments: int = 0
    home_share: float = 0.0
    root_share: float = 0.0


# Moltbook-like defaults: 90k active agents of 770k write ~1M posts and ~10M comments in 30 days. The roles differ
# by large factors in what they write and receive, so that they are separable (not marginal) in per-agent features.
DEFAULT_ROLES = (
    RoleProfile("hub", share=0.03, posts_per_day=0.5, comments_per_day=2.0, reply_share=0.0,
                post_appeal=30.0, comment_appeal=200.0, reciprocity=0.0, activity_sigma=0.5, root_share=0.5),
    RoleProfile("broadcaster", share=0.02, posts_per_day=17.0, comments_per_day=0.01, reply_share=0.0,
                post_appeal=0.02, comment_appeal=0.3, reciprocity=0.0, activity_sigma=0.5),
    RoleProfile("conversationalist", share=0.05, posts_per_day=0.01, comments_per_day=38.0, reply_share=0.85,
                post_appeal=1.0, comment_appeal=2.0, reciprocity=0.7, activity_sigma=0.5, root_share=0.5),
    RoleProfile("periphery", share=0.90, posts_per_day=0.003, comments_per_day=0.12, reply_share=1.0,
                post_appeal=1.0, comment_appeal=0.01, reciprocity=0.0, activity_sigma=0.3, min_comments=2,
                home_share=1.0),
)


@dataclass(frozen=True)
class SimulationConfig:
    """Every knob of a simulated society; the defaults give a Moltbook-like one.

    Parameters
    ----------
    n_agents : registered agents (Moltbook: about 770,000).
    seed : random seed; the same configuration and seed write the same bytes.
    active_share : share of agents that post or comment at all (Moltbook: about 90,000 of 770,000).
    roles : the structural roles of active agents (:class:`RoleProfile`), their shares summing to one.
    start : start of the observation window, ISO-8601 UTC.
    days : length of the observation window in days.
    registration_lead_days : active agents registered up to this many days before the window opens.
    n_submolts : number of submolts (default: one per 100 agents, at least 30).
    submolt_zipf : Zipf exponent of submolt popularity.
    post_appeal_sigma : sigma of the lognormal (mean 1) appeal of each post and comment.
    title_words, post_words, comment_words : mean lengths in words of titles, post bodies and comments.
    comment_delay_hours : mean delay of a background comment after its post (exponential: a thread draws its
        comments in the day or so after the post, whatever its size).
    thread_gap_minutes : mean delay of an answer in a back-and-forth after what it answers.
    hostile_share : share of names and texts that carry hostile-looking strings (markup, quotes, unicode).
    cascades_per_active_agent : number of cascades per active agent (default: 2.5, over 5,000 at 20,000 agents).
    cascade_dist : ``"power_law"`` (discrete, exact) or ``"lognormal"`` (discretised) cascade sizes.
    cascade_alpha, cascade_xmin : exponent and lower cutoff of the discrete power law.
    cascade_lognormal_mu, cascade_lognormal_sigma : parameters of the discretised lognormal.
    max_cascade_share : sizes are truncated at this share of the active agents (``cascades.max_size`` in the
        truth), so that every cascade can find enough distinct candidates: 234 adopters at 20,000 agents (about
        one draw in 5,850 is redrawn), 9,009 at 770,000. A much lower cap visibly bends the tail: the
        power-law-vs-lognormal likelihood ratio then drifts towards the lognormal.
    item_kind_shares : shares of URL, hashtag and submolt-mention items.
    cascade_root_window : cascades start in this leading share of the window.
    adoption_hazard_ratio : HR per additional exposure (< 1 diminishing returns, > 1 reinforcing).
    change_at_day : a planted change: from this day of the window on (calendar time), ``hazard_ratio_after``
        replaces ``adoption_hazard_ratio`` and ``role_growth_after`` adds agents of one role (None: no change).
    hazard_ratio_after : the HR per exposure from ``change_at_day`` on (None: unchanged).
    role_growth_after : ``(role, factor)``: agents of that role who join at ``change_at_day`` (registered just
        before it, writing nothing earlier), ``factor - 1`` times as many as it had, so that among agents active
        after the change its count is multiplied by ``factor`` (None: unchanged).
    adoption_lambda0 : baseline adoption hazard per day (the hazard is ``lambda0 * HR ** k``).
    exposure_rate : rate per day of exposures after the first.
    first_exposure_delay : mean delay in days from an item-bearing comment to a candidate's first exposure.
    max_exposures : exposures stop after this many (the hazard then stays at ``lambda0 * HR ** max``). The default
        is above what the window allows at the default exposure rate: a low cap (10) makes "adopted at the last
        exposure" collect every later adoption and bends the exposure curve upwards at its end.
    injection_campaigns : planted prompt-injection campaigns (at most 7: one per payload family of the detector,
        in the order of ``spread.INJECTION_FAMILIES``). Each is a cascade of the item ``injection:<family>``: a root
        agent writes one of the family's phrasings, exposed candidates repeat it (any phrasing, any case) with
        hazard ``lambda0 * injection_hazard_ratio ** k``, and its coordinated accounts post its first phrasing,
        word for word, again and again. Default 0: none.
    injection_campaign_share : adopters of each campaign, as a share of the active agents (at least 10).
    injection_hazard_ratio : the campaigns' HR per additional exposure.
    injection_seeders : coordinated accounts per campaign: active agents of the periphery, each of which posts the
        campaign's text ``injection_seeder_comments`` times as top-level comments in threads across the site
        (no one replies to them, so they expose no one: the planted exposures stay exactly the candidates').
    tasks_per_active_agent : task threads per active agent (default 0.5: over 1,000 at 20,000 agents).
    treated_share : expected share of tasks with multi-agent work.
    cooperation_effect : effect of multi-agent work on the logit of success (negative: cooperation hurts).
    quality_noise : sd of the logit-scale noise of a task's quality.
    max_contributors : most distinct contributors in multi-agent work.
    votes : write votes (and upvote/downvote counters consistent with them).
    post_upvote_mean, comment_upvote_mean : mean upvotes of an ordinary post and comment.
    downvote_share : expected downvotes per upvote.
    bad_rate : expected share of extra bad lines per JSONL part of agents, posts and comments.
    fmt : ``"jsonl"``, ``"parquet"`` or ``"csv"``.
    shape : ``"api"`` (nested ``author``/``submolt`` objects, JSONL only) or ``"flat"`` (archive columns).
    layout : ``"entities"`` (a folder of files per entity) or ``"api"`` (the API's responses as scrapers save them:
        a post detail file per post with its comment tree, a profile per agent, a file per submolt; votes and tasks
        stay per-entity files). The api layout is written from the api shape in JSONL, one drop, no bad records.
    n_drops : number of overlapping drops over consecutive time slices.
    rescrape_share : chance that a later drop re-scrapes a record of an earlier slice (with newer counters).
    name_author_share : in the API shape, share of comments whose ``author`` is the name string.
    part_rows : most records per written file.
    """

    n_agents: int = 20_000
    seed: int = 7
    active_share: float = 0.117
    roles: tuple[RoleProfile, ...] = DEFAULT_ROLES
    start: str = "2026-01-28T00:00:00Z"
    days: float = 30.0
    registration_lead_days: float = 3.0
    n_submolts: int | None = None
    submolt_zipf: float = 1.1
    post_appeal_sigma: float = 0.8
    title_words: float = 7.0
    post_words: float = 40.0
    comment_words: float = 14.0
    comment_delay_hours: float = 8.0
    thread_gap_minutes: float = 30.0
    hostile_share: float = 0.002
    cascades_per_active_agent: float = 2.5
    cascade_dist: str = "power_law"
    cascade_alpha: float = 2.5
    cascade_xmin: int = 1
    cascade_lognormal_mu: float = 0.3
    cascade_lognormal_sigma: float = 1.0
    max_cascade_share: float = 0.1
    item_kind_shares: tuple[float, float, float] = (0.4, 0.4, 0.2)
    cascade_root_window: float = 0.6
    adoption_hazard_ratio: float = 0.53
    change_at_day: float | None = None
    hazard_ratio_after: float | None = None
    role_growth_after: tuple[str, float] | None = None
    adoption_lambda0: float = 1.0
    exposure_rate: float = 0.7
    first_exposure_delay: float = 0.5
    max_exposures: int = 30
    injection_campaigns: int = 0
    injection_campaign_share: float = 0.03
    injection_hazard_ratio: float = 1.5
    injection_seeders: int = 2
    injection_seeder_comments: int = 30
    tasks_per_active_agent: float = 0.5
    treated_share: float = 0.35
    cooperation_effect: float = -0.7
    quality_noise: float = 0.8
    max_contributors: int = 6
    votes: bool = True
    post_upvote_mean: float = 4.0
    comment_upvote_mean: float = 0.8
    downvote_share: float = 0.1
    bad_rate: float = 0.0
    fmt: str = "jsonl"
    shape: str = "api"
    layout: str = "entities"
    n_drops: int = 1
    rescrape_share: float = 0.2
    name_author_share: float = 0.2
    part_rows: int = 1_000_000

    def __post_init__(self):
        problems = []
        if self.fmt not in ("jsonl", "parquet", "csv"):
            problems.append(f"fmt must be jsonl, parquet or csv, not {self.fmt!r}")
        if self.shape not in ("api", "flat"):
            problems.append(f"shape must be api or flat, not {self.shape!r}")
        if self.shape == "api" and self.fmt != "jsonl":
            problems.append("the api shape (nested objects, author as object or name) is written as jsonl only")
        if self.layout not in ("entities", "api"):
            problems.append(f"layout must be entities or api, not {self.layout!r}")
        if self.layout == "api" and (self.fmt != "jsonl" or self.shape != "api" or self.n_drops != 1 or self.bad_rate):
            problems.append("the api layout is written from one drop of the api shape in jsonl, without bad records")
        if self.bad_rate and self.fmt != "jsonl":
            problems.append("bad records are injected in jsonl drops only")
        if not 0.0 <= self.bad_rate < 0.5:
            problems.append("bad_rate must be in [0, 0.5)")
        if self.cascade_dist not in ("power_law", "lognormal"):
            problems.append("cascade_dist must be power_law or lognormal")
        if self.cascade_dist == "power_law" and self.cascade_alpha <= 1.0:
            problems.append("cascade_alpha must exceed 1")
        if self.cascade_xmin < 1:
            problems.append("cascade_xmin must be at least 1")
        if abs(sum(r.share for r in self.roles) - 1.0) > 1e-9:
            problems.append("role shares must sum to one")
        if sum(r.root_share for r in self.roles) <= 0:
            problems.append("some role must start cascades (root_share)")
        if [r.name for r in self.roles] != list(ROLE_NAMES):
            problems.append(f"roles must be, in order, {ROLE_NAMES}")
        n_active = int(round(self.active_share * self.n_agents))
        if n_active < 50:
            problems.append("a society needs at least 50 active agents (raise n_agents or active_share)")
        elif self.cascade_xmin > self.resolved_max_cascade_size(n_active):
            problems.append("cascade_xmin exceeds the largest possible cascade (max_cascade_share)")
        if self.n_drops < 1:
            problems.append("n_drops must be at least 1")
        if self.days < 2:
            problems.append("the window must last at least two days")
        if self.max_exposures < 1 or self.max_contributors < 2:
            problems.append("max_exposures must be >= 1 and max_contributors >= 2")
        if self.change_at_day is not None:
            if not 0 < self.change_at_day < self.days:
                problems.append("change_at_day must fall inside the window (0 < day < days)")
            if self.hazard_ratio_after is None and self.role_growth_after is None:
                problems.append("a change needs hazard_ratio_after or role_growth_after")
        elif self.hazard_ratio_after is not None or self.role_growth_after is not None:
            problems.append("hazard_ratio_after and role_growth_after need change_at_day")
        if self.hazard_ratio_after is not None and not self.hazard_ratio_after > 0:
            problems.append("hazard_ratio_after must be positive")
        if self.role_growth_after is not None:
            role, factor = self.role_growth_after
            if role not in ROLE_NAMES or role == "periphery" or not factor > 1:
                problems.append("role_growth_after is (role other than periphery, factor > 1)")
        if not 0 <= self.injection_campaigns <= 7:
            problems.append("injection_campaigns must be between 0 and 7 (one per payload family)")
        if not 0 < self.injection_campaign_share < 0.5 or not self.injection_hazard_ratio > 0:
            problems.append("injection_campaign_share must be in (0, 0.5) and injection_hazard_ratio positive")
        if self.injection_seeders < 0 or self.injection_seeder_comments < 1:
            problems.append("injection_seeders must be >= 0 and injection_seeder_comments >= 1")
        if problems:
            raise ValueError("invalid SimulationConfig: " + "; ".join(problems))

    @property
    def resolved_n_submolts(self) -> int:
        return self.n_submolts if self.n_submolts is not None else max(30, self.n_agents // 100)

    def resolved_max_cascade_size(self, n_active: int) -> int:
        return max(1, min(n_active - 1, int(self.max_cascade_share * n_active)))


@dataclass(frozen=True)
class SimulationResult:
    """What :func:`simulate` wrote.

    Attributes
    ----------
    out_dir : the folder written.
    drops : the drop folder(s): ``out_dir`` itself for one drop, ``out_dir/drop-001``... for several.
    counts : unique good records per entity (what ingesting every drop should yield).
    rows_by_drop : good rows written per drop and entity (re-scraped copies included).
    truth : the planted truth, as written to ``truth.json``.
    """

    out_dir: Path
    drops: tuple[Path, ...]
    counts: dict
    rows_by_drop: dict
    truth: dict

    @property
    def drop(self) -> Path:
        """The last (or only) drop folder."""
        return self.drops[-1]

    @property
    def truth_path(self) -> Path:
        return self.out_dir / "truth.json"


def load_truth(drop_dir) -> dict:
    """The planted truth of a simulated drop: ``truth.json`` in the folder or in its parent (multi-drop runs)."""
    drop_dir = Path(drop_dir)
    for candidate in (drop_dir / "truth.json", drop_dir.parent / "truth.json"):
        if candidate.is_file():
            return json.loads(candidate.read_text())
    raise FileNotFoundError(f"no truth.json in {drop_dir} or its parent: not a simulated drop")
