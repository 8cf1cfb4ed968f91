"""Simulated agent societies with planted ground truth, written as interaction-log drops.

:func:`simulate` draws a Moltbook-like society and writes it in the interaction-log contract's format (the
observatory's embedded default data source), deterministic by seed, with what it planted beside it in
``truth.json`` and ``truth/*.parquet``:

* **Structural roles** among active agents (``truth/agent_roles.parquet``): hubs draw many replies, broadcasters
  post a lot and rarely comment, conversationalists comment a lot in reply chains and reply back, the periphery
  (most active agents) writes a few comments; most registered agents never post or comment. Activity within a
  role is heavy-tailed (lognormal multipliers), submolt popularity is Zipf, comments are threaded.
* **Cascades** of URLs, hashtags and submolt mentions that spread only along exposures, with sizes drawn exactly
  from a discrete power law (``truth/cascades.parquet``, ``truth/adoptions.parquet``,
  ``truth/candidates.parquet``).
* **Adoption hazards**: on the clock "time since first exposure" a candidate adopts with hazard
  ``lambda0 * HR ** k(t)``, ``k(t)`` its exposures so far; non-adopters are censored at the end of the window.
* **Cooperation**: task threads solved by one agent or several, with confounded assignment and a known effect of
  multi-agent work on the logit of success (``truth/task_outcomes.parquet``).
* **Bad records** of every kind the contract names, spliced into JSONL parts (``truth/bad_records.parquet``).

The generators live in :mod:`observatory._sim`; this module holds the configuration and puts the run together.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._sim import cascades as _cascades
from ._sim import society as _society
from ._sim import tasks as _tasks
from ._sim import text as _text
from ._sim.writer import BAD_KINDS, ENTITIES, DropWriter

__all__ = ["RoleProfile", "SimulationConfig", "SimulationResult", "simulate", "load_truth", "DEFAULT_ROLES"]

TRUTH_VERSION = 1
DAY_MS = _society.DAY_MS
HOUR_MS = _society.HOUR_MS


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
    thread_gap_minutes : mean gap between successive comments of a thread.
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
    adoption_lambda0 : baseline adoption hazard per day (the hazard is ``lambda0 * HR ** k``).
    exposure_rate : rate per day of exposures after the first.
    first_exposure_delay : mean delay in days from an item-bearing comment to a candidate's first exposure.
    max_exposures : exposures stop after this many (the hazard then stays at ``lambda0 * HR ** max``). The default
        is above what the window allows at the default exposure rate: a low cap (10) makes "adopted at the last
        exposure" collect every later adoption and bends the exposure curve upwards at its end.
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
    adoption_lambda0: float = 1.0
    exposure_rate: float = 0.7
    first_exposure_delay: float = 0.5
    max_exposures: int = 30
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
        if [r.name for r in self.roles] != list(_society.ROLE_NAMES):
            problems.append(f"roles must be, in order, {_society.ROLE_NAMES}")
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


# ----------------------------------------------------------------------------------------------------------------


class _Streams:
    """Independent random streams per component, so that changing one part of a run leaves the others alone
    (the good records do not depend on ``bad_rate``, the background does not depend on the cascades)."""

    NAMES = ("population", "submolts", "task_plan", "posts", "post_votes", "slots", "cascades", "tasks",
             "post_text", "agents_text", "copies", "bad", "task_comments", "cascade_comments")

    def __init__(self, seed: int):
        self.seed = seed
        self._generators: dict[str, np.random.Generator] = {}

    def __getattr__(self, name: str) -> np.random.Generator:
        if name not in type(self).NAMES:
            raise AttributeError(name)
        # One generator per stream for the whole run: two uses of a stream continue it, never replay it.
        if name not in self._generators:
            self._generators[name] = np.random.default_rng(np.random.SeedSequence([self.seed,
                                                                                   self.NAMES.index(name)]))
        return self._generators[name]

    def chunk(self, index: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, 1000 + index]))


class _Run:
    """One simulation run: the society's arrays, the per-slice counters and the writer."""

    def __init__(self, out_dir: Path, config: SimulationConfig, progress: Callable | None):
        self.config = config
        self.progress = progress or (lambda step, done, total: None)
        self.streams = _Streams(config.seed)
        self.start_ms = _text.parse_iso_ms(config.start)
        self.end_ms = self.start_ms + int(round(config.days * DAY_MS))
        d = config.n_drops
        self.slice_end = self.start_ms + np.round(np.arange(1, d + 1) * (self.end_ms - self.start_ms) / d).astype(
            np.int64)
        self.writer = DropWriter(out_dir, config, self.streams.bad)
        self.copies_rng = self.streams.copies

    def slice_of(self, ms: np.ndarray) -> np.ndarray:
        return np.minimum(np.searchsorted(self.slice_end, ms, side="right"), self.config.n_drops - 1)

    def copies(self, created_slice: np.ndarray):
        """For each drop, the records it holds: those created in its slice plus a re-scraped share of older ones."""
        d = self.config.n_drops
        if d == 1:
            return [np.arange(created_slice.size)]
        rescraped = self.copies_rng.random((created_slice.size, d)) < self.config.rescrape_share
        return [np.flatnonzero((created_slice == j) | ((created_slice < j) & rescraped[:, j])) for j in range(d)]

    def observed(self, drop: int, n: int) -> tuple[str, pa.Array]:
        """The observation column of a copy in drop ``drop``: ``fetched_at`` (API) or ``dump_date`` (archives)."""
        end = int(self.slice_end[drop])
        if self.config.shape == "api":
            jitter = self.copies_rng.integers(0, HOUR_MS, size=n)
            return "fetched_at", _text.iso_ms(end + jitter)
        return "dump_date", _text.iso_ms(np.full(n, end, dtype=np.int64))


def _as_of(by_slice: np.ndarray, drop: int) -> np.ndarray:
    """Counters as of the end of slice ``drop`` from per-slice increments ``(n, n_drops)``."""
    return by_slice[:, : drop + 1].sum(axis=1)


def _nullable(values: pa.Array, present: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(present), values, pa.scalar(None, values.type))


def simulate(out_dir, config: SimulationConfig | None = None, *, progress: Callable | None = None
             ) -> SimulationResult:
    """Simulate an agent society and write it as a contract drop with its planted truth.

    .. math::

        \\text{adoption hazard: } \\lambda(t) = \\lambda_0 \\, HR^{k(t)}, \\qquad
        P(\\text{cascade size} = x) = x^{-\\alpha} / \\zeta(\\alpha, x_{min})

    Parameters
    ----------
    out_dir : folder to write. With one drop the drop is ``out_dir`` itself; with ``n_drops > 1`` the drops are
        ``out_dir/drop-001``, ``out_dir/drop-002``... In both cases ``truth.json`` and ``truth/`` go in ``out_dir``
        (whose names start with no entity's name, so the ingest ignores them). Files a previous
        run wrote there are replaced.
    config : the society (:class:`SimulationConfig`); defaults to 20,000 agents, seed 7.
    progress : optional ``progress(step, done, total)`` callback for long runs.

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> import tempfile
    >>> from observatory.simulate import SimulationConfig, simulate
    >>> result = simulate(tempfile.mkdtemp(), SimulationConfig(n_agents=2_000, seed=1))
    >>> result.truth["population"]["active_agents"]
    234
    >>> sorted(result.counts)
    ['agents', 'comments', 'posts', 'submolts', 'tasks', 'votes']
    """
    config = config or SimulationConfig()
    out = Path(out_dir)
    _clear_previous_output(out)
    out.mkdir(parents=True, exist_ok=True)
    if config.layout == "api":
        return _simulate_responses(out, config, progress)
    run = _Run(out, config, progress)
    try:
        truth = _simulate(run)
    finally:
        run.writer.close()
    rows_by_drop = {}
    for (drop, entity), rows in sorted(run.writer.rows.items()):
        rows_by_drop.setdefault(run.writer.drop_name(drop), {})[entity] = rows
    return SimulationResult(out, tuple(run.writer.drop_dirs), truth["counts"]["unique"], rows_by_drop, truth)


def _simulate_responses(out: Path, config: SimulationConfig, progress: Callable | None) -> SimulationResult:
    """The society as per-entity files in a scratch folder, then as API responses in `out` (see _sim.responses)."""
    import tempfile

    from dataclasses import replace

    from ._sim.responses import write_responses

    with tempfile.TemporaryDirectory(dir=out, prefix=".entities-") as scratch:
        result = simulate(scratch, replace(config, layout="entities"), progress=progress)
        written = write_responses(Path(scratch), out)
        for name in ("truth", "truth.json"):
            shutil.move(str(Path(scratch) / name), str(out / name))
    truth = json.loads((out / "truth.json").read_text())
    truth["layout"]["kind"] = "api"
    truth["layout"]["response_files"] = written
    truth["config"]["layout"] = "api"
    (out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
    return SimulationResult(out, (out,), result.counts, result.rows_by_drop, truth)


def _clear_previous_output(out: Path) -> None:
    if not out.is_dir():
        return
    for name in ENTITIES + ("truth",):
        if (out / name).is_dir():
            shutil.rmtree(out / name)
    for old_drop in out.glob("drop-[0-9][0-9][0-9]"):
        if old_drop.is_dir():
            shutil.rmtree(old_drop)
    if (out / "truth.json").is_file():
        (out / "truth.json").unlink()


def _simulate(run: _Run) -> dict:
    config, streams = run.config, run.streams
    start_ms, end_ms = run.start_ms, run.end_ms
    d = config.n_drops
    steps = 8
    run.progress("agents", 0, steps)
    population = _society.make_population(streams.population, config, start_ms, end_ms)
    n_agents = population.n
    submolts = _society.make_submolts(streams.submolts, config, population, start_ms)
    plan = _tasks.plan_tasks(streams.task_plan, config, population, submolts, start_ms, end_ms)
    post_counts, comment_counts = _society.background_post_counts(streams.posts, population, config)
    posts = _society.make_posts(streams.posts, config, population, submolts, post_counts, plan, start_ms, end_ms)
    first_task_post = posts.n - plan.n

    # Per-slice increments of every counter that a later copy of a record shows.
    stats = _Stats(n_agents, posts.n, d)
    stats.posts_by_agent = np.bincount(posts.author, minlength=n_agents)
    voters = population.active
    voter_weight = population.comment_rate[voters] + population.post_rate[voters]

    run.progress("posts", 1, steps)
    post_votes = None
    if config.votes:
        appeal = _society.role_array(population, "post_appeal", config)[posts.author] * population.multiplier[
            posts.author]
        mean_up = config.post_upvote_mean * np.minimum(np.sqrt(appeal), 5.0)
        post_votes = _society.draw_votes(streams.post_votes, posts.author, posts.created_ms, mean_up,
                                         config.downvote_share, voter_weight, voters, end_ms)
        stats.add_votes(post_votes, posts.author, run.slice_of(post_votes.created_ms))
        _write_votes(run, "post", posts.ids, post_votes, population)

    run.progress("comments", 2, steps)
    thread, author, wants_reply, home = _society.comment_slots(streams.slots, config, population, posts,
                                                               comment_counts, submolts.n)
    edges = _society.chunk_edges(thread, max(1, int(config.part_rows * 0.6)))
    comment_appeal = _society.role_array(population, "comment_appeal", config) * population.multiplier
    n_chunks = len(edges) - 1
    for c in range(n_chunks):
        rng = streams.chunk(c)
        lo, hi = edges[c], edges[c + 1]
        batch = _society.build_threads(rng, config, population, posts, thread[lo:hi], author[lo:hi],
                                       wants_reply[lo:hi], end_ms)
        _emit_comments(run, rng, batch, population, posts, stats, voter_weight, voters, comment_appeal,
                       background=True)
        run.progress("comments", c + 1, n_chunks)
    del thread, author, wants_reply

    run.progress("cascades", 3, steps)
    cascade = _cascades.simulate_cascades(streams.cascades, config, population, posts, submolts.names, home,
                                          start_ms, end_ms)
    _emit_comments(run, streams.cascade_comments, cascade.batch, population, posts, stats, voter_weight, voters,
                   comment_appeal, background=True)

    run.progress("tasks", 4, steps)
    agent_last_drop, agent_copies = _agent_copies(run, population)
    # The karma an observer sees for each agent: as of the last drop holding a copy of it.
    karma_observed = stats.karma_by_slice.cumsum(axis=1)[np.arange(n_agents), agent_last_drop]
    activity = stats.posts_by_agent + stats.comments_outside_tasks
    task = _tasks.run_tasks(streams.tasks, config, plan, population, first_task_post, karma_observed, activity,
                            end_ms)
    _emit_comments(run, streams.task_comments, task.batch, population, posts, stats, voter_weight, voters,
                   comment_appeal, background=False)
    _write_tasks(run, plan, task, posts, population, first_task_post)

    run.progress("posts", 5, steps)
    _write_posts(run, posts, post_votes, stats, population, submolts, first_task_post)
    run.progress("agents", 6, steps)
    _write_agents(run, population, stats, agent_copies)
    _write_submolts(run, submolts, posts, population)

    run.progress("truth", 7, steps)
    truth = _write_truth(run, population, submolts, posts, stats, cascade, task, plan)
    run.progress("done", steps, steps)
    return truth


class _Stats:
    def __init__(self, n_agents: int, n_posts: int, n_drops: int):
        self.n_drops = n_drops
        self.karma_by_slice = np.zeros((n_agents, n_drops), dtype=np.int64)
        self.post_comments_by_slice = np.zeros((n_posts, n_drops), dtype=np.int64)
        self.posts_by_agent = np.zeros(n_agents, dtype=np.int64)
        self.comments_by_agent = np.zeros(n_agents, dtype=np.int64)
        self.comments_outside_tasks = np.zeros(n_agents, dtype=np.int64)
        self.comments = 0
        self.votes = 0

    def add_votes(self, votes: _society.Votes, target_author: np.ndarray, vote_slice: np.ndarray) -> None:
        owner = target_author[votes.target].astype(np.int64)
        self.karma_by_slice += np.bincount(owner * self.n_drops + vote_slice, weights=votes.value,
                                           minlength=self.karma_by_slice.size).astype(np.int64).reshape(
            self.karma_by_slice.shape)
        self.votes += votes.target.size


def _write_votes(run: _Run, target_type: str, target_ids: pa.Array, votes: _society.Votes, population) -> None:
    vote_slice = run.slice_of(votes.created_ms)
    for drop in range(run.config.n_drops):
        rows = np.flatnonzero(vote_slice == drop)
        if rows.size == 0:
            continue
        run.writer.write("votes", drop, pa.table({
            "voter_id": population.ids.take(pa.array(votes.voter[rows])),
            "target_type": pa.repeat(pa.scalar(target_type), rows.size),
            "target_id": target_ids.take(pa.array(votes.target[rows])),
            "value": pa.array(votes.value[rows].astype(np.int64)),
            "created_at": _text.iso_ms(votes.created_ms[rows]),
        }))


_API_COMMENT_SELECT = (
    "SELECT id, post_id, parent_id, "
    "CASE WHEN author_as_name THEN to_json(author_name) "
    "ELSE to_json({'id': author_id, 'name': author_name}) END AS author, "
    "content, upvotes, downvotes, depth, created_at, fetched_at FROM part"
)


def _emit_comments(run: _Run, rng, batch: _society.CommentBatch, population, posts, stats: _Stats, voter_weight,
                   voters, comment_appeal, background: bool) -> None:
    """Ids, text, votes and counters of a batch of comments, written to the drops that hold a copy of each."""
    config = run.config
    d = config.n_drops
    n = batch.n
    if n == 0:
        return
    ids = _text.uuid_strings(rng, n)
    parent_ids = _nullable(ids.take(pa.array(np.maximum(batch.parent, 0))), batch.parent >= 0)
    if batch.content is not None:
        content = batch.content
    else:
        content = _text.random_text(rng, _text.word_counts(rng, n, config.comment_words))
        content = _text.sprinkle_hostile(rng, content, config.hostile_share)
    up_by_slice = np.zeros((n, d), dtype=np.int64)
    down_by_slice = np.zeros((n, d), dtype=np.int64)
    if config.votes and batch.voted:
        mean_up = config.comment_upvote_mean * np.minimum(np.sqrt(comment_appeal[batch.author]), 5.0)
        votes = _society.draw_votes(rng, batch.author, batch.created_ms, mean_up, config.downvote_share,
                                    voter_weight, voters, run.end_ms)
        vote_slice = run.slice_of(votes.created_ms)
        np.add.at(up_by_slice, (votes.target[votes.value > 0], vote_slice[votes.value > 0]), 1)
        np.add.at(down_by_slice, (votes.target[votes.value < 0], vote_slice[votes.value < 0]), 1)
        stats.add_votes(votes, batch.author, vote_slice)
        _write_votes(run, "comment", ids, votes, population)
    created_slice = run.slice_of(batch.created_ms)
    np.add.at(stats.post_comments_by_slice, (batch.post, created_slice), 1)
    per_author = np.bincount(batch.author, minlength=population.n)
    stats.comments_by_agent += per_author
    if background:
        stats.comments_outside_tasks += per_author
    stats.comments += n
    author_as_name = rng.random(n) < config.name_author_share
    created_at = _text.iso_ms(batch.created_ms)
    for drop, rows in enumerate(run.copies(created_slice)):
        if rows.size == 0:
            continue
        take = pa.array(rows)
        who = pa.array(batch.author[rows])
        observed_name, observed = run.observed(drop, rows.size)
        columns = {
            "id": ids.take(take),
            "post_id": posts.ids.take(pa.array(batch.post[rows])),
            "parent_id": parent_ids.take(take),
        }
        if config.shape == "api":
            columns |= {"author_id": population.ids.take(who), "author_name": population.names.take(who),
                        "author_as_name": pa.array(author_as_name[rows])}
        else:
            columns |= {"agent_id": population.ids.take(who), "agent_name": population.names.take(who)}
        columns |= {
            "content": content.take(take),
            "upvotes": pa.array(_as_of(up_by_slice[rows], drop)),
            "downvotes": pa.array(_as_of(down_by_slice[rows], drop)),
            "depth": pa.array(batch.depth[rows].astype(np.int64)),
            "created_at": created_at.take(take),
            observed_name: observed,
        }
        select = _API_COMMENT_SELECT if config.shape == "api" else "SELECT * FROM part"
        run.writer.write("comments", drop, pa.table(columns), select)


def _agent_copies(run: _Run, population):
    created_slice = run.slice_of(population.created_ms)
    copies = run.copies(created_slice)
    last = np.zeros(population.n, dtype=np.int64)
    for drop, rows in enumerate(copies):
        last[rows] = drop
    return last, copies


def _write_tasks(run: _Run, plan, task, posts, population, first_task_post: int) -> None:
    table = task.table
    last = run.config.n_drops - 1
    resolved_at = _nullable(_text.iso_ms(np.maximum(table["resolved_ms"], 0)), table["resolved"])
    run.writer.write("tasks", last, pa.table({
        "id": plan.ids,
        "post_id": posts.ids.slice(first_task_post),
        "requester_id": population.ids.take(pa.array(plan.requester)),
        "created_at": _text.iso_ms(plan.created_ms),
        "category": pa.array(np.array(_text.TASK_CATEGORIES)[plan.category]),
        "resolved": pa.array(table["resolved"]),
        "resolved_at": resolved_at,
        "quality": pa.array(np.round(table["quality"], 6)),
    }))


def _write_posts(run: _Run, posts, post_votes, stats: _Stats, population, submolts, first_task_post: int) -> None:
    config = run.config
    d = config.n_drops
    up_by_slice = np.zeros((posts.n, d), dtype=np.int64)
    down_by_slice = np.zeros((posts.n, d), dtype=np.int64)
    if post_votes is not None:
        vote_slice = run.slice_of(post_votes.created_ms)
        positive = post_votes.value > 0
        np.add.at(up_by_slice, (post_votes.target[positive], vote_slice[positive]), 1)
        np.add.at(down_by_slice, (post_votes.target[~positive], vote_slice[~positive]), 1)
    rng = run.streams.post_text
    created_slice = run.slice_of(posts.created_ms)
    size = config.part_rows
    for lo in range(0, posts.n, size):
        hi = min(posts.n, lo + size)
        index = np.arange(lo, hi)
        n_background = max(0, min(hi, first_task_post) - lo)
        title = _text.random_text(rng, _text.word_counts(rng, n_background, config.title_words, minimum=2))
        body = _text.random_text(rng, _text.word_counts(rng, n_background, config.post_words, minimum=5))
        title = _text.sprinkle_hostile(rng, title, config.hostile_share)
        body = _text.sprinkle_hostile(rng, body, config.hostile_share)
        if hi > first_task_post:
            task_lo = max(lo, first_task_post) - first_task_post
            title = pa.concat_arrays([title, posts.task_title.slice(task_lo, hi - max(lo, first_task_post))])
            body = pa.concat_arrays([body, posts.task_content.slice(task_lo, hi - max(lo, first_task_post))])
        for drop, rows in enumerate(run.copies(created_slice[lo:hi])):
            if rows.size == 0:
                continue
            take = pa.array(rows)
            post = index[rows]
            who = pa.array(posts.author[post])
            where = pa.array(posts.submolt[post])
            observed_name, observed = run.observed(drop, rows.size)
            columns = {"id": posts.ids.take(pa.array(post)), "title": title.take(take), "content": body.take(take),
                       "url": pa.nulls(rows.size, pa.string())}
            if config.shape == "api":
                columns["submolt"] = pa.StructArray.from_arrays(
                    [submolts.ids.take(where), submolts.names.take(where), submolts.display_names.take(where)],
                    names=["id", "name", "display_name"])
                columns["author"] = pa.StructArray.from_arrays(
                    [population.ids.take(who), population.names.take(who)], names=["id", "name"])
            else:
                columns["submolt"] = submolts.names.take(where)
                columns["agent_id"] = population.ids.take(who)
                columns["agent_name"] = population.names.take(who)
            columns |= {
                "upvotes": pa.array(_as_of(up_by_slice[post], drop)),
                "downvotes": pa.array(_as_of(down_by_slice[post], drop)),
                "comment_count": pa.array(_as_of(stats.post_comments_by_slice[post], drop)),
                "is_pinned": pa.array(posts.is_pinned[post]),
                "created_at": _text.iso_ms(posts.created_ms[post]),
                observed_name: observed,
            }
            run.writer.write("posts", drop, pa.table(columns))


def _write_agents(run: _Run, population, stats: _Stats, copies) -> None:
    config = run.config
    rng = run.streams.agents_text
    n = population.n
    description = _text.random_text(rng, _text.word_counts(rng, n, 8.0, minimum=2))
    description = _text.sprinkle_hostile(rng, description, max(config.hostile_share, 0.01))
    active = population.role != _society.INACTIVE
    claimed = rng.random(n) < np.where(active, 0.8, 0.4)
    follower_scale = np.array([400.0, 60.0, 40.0, 3.0, 0.3])[population.role]
    followers = rng.poisson(follower_scale * population.multiplier)
    following = rng.poisson(np.where(active, 12.0, 1.0))
    handle = pc.binary_join_element_wise("owner", _text.int_strings(rng.integers(10_000, 10_000_000, size=n)), "_")
    handle = _nullable(handle, claimed)
    created_at = _text.iso_ms(population.created_ms)
    karma_cumulative = stats.karma_by_slice.cumsum(axis=1)
    for drop, rows in enumerate(copies):
        if rows.size == 0:
            continue
        take = pa.array(rows)
        growth = np.sqrt((drop + 1) / config.n_drops)
        observed_name, observed = run.observed(drop, rows.size)
        run.writer.write("agents", drop, pa.table({
            "id": population.ids.take(take),
            "name": population.names.take(take),
            "description": description.take(take),
            "karma": pa.array(karma_cumulative[rows, drop]),
            "created_at": created_at.take(take),
            "is_claimed": pa.array(claimed[rows]),
            "follower_count": pa.array(np.round(followers[rows] * growth).astype(np.int64)),
            "following_count": pa.array(following[rows].astype(np.int64)),
            "owner_x_handle": handle.take(take),
            observed_name: observed,
        }))


def _write_submolts(run: _Run, submolts, posts, population) -> None:
    config = run.config
    d = config.n_drops
    rng = run.streams.agents_text
    n = submolts.n
    description = _text.random_text(rng, _text.word_counts(rng, n, 10.0, minimum=3))
    share = submolts.popularity / submolts.popularity.sum()
    subscribers = rng.poisson(share * population.active.size * 3.0 + 1.0)
    posts_by_slice = np.zeros((n, d), dtype=np.int64)
    np.add.at(posts_by_slice, (posts.submolt, run.slice_of(posts.created_ms)), 1)
    for drop, rows in enumerate(run.copies(run.slice_of(submolts.created_ms))):
        if rows.size == 0:
            continue
        take = pa.array(rows)
        owner = pa.array(submolts.owner[rows])
        observed_name, observed = run.observed(drop, rows.size)
        run.writer.write("submolts", drop, pa.table({
            "id": submolts.ids.take(take),
            "name": submolts.names.take(take),
            "display_name": submolts.display_names.take(take),
            "description": description.take(take),
            "subscriber_count": pa.array(np.round(subscribers[rows] * (drop + 1) / d).astype(np.int64)),
            "post_count": pa.array(_as_of(posts_by_slice[rows], drop)),
            "created_at": _text.iso_ms(submolts.created_ms[rows]),
            "owner": population.names.take(owner),
            "owner_id": population.ids.take(owner),
            observed_name: observed,
        }))


def _write_truth(run: _Run, population, submolts, posts, stats: _Stats, cascade, task, plan) -> dict:
    config = run.config
    out = run.writer.out_dir
    truth_dir = out / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    role_labels = np.array(_society.ROLE_LABELS)
    pq.write_table(pa.table({
        "agent_id": population.ids,
        "name": population.names,
        "role": pa.array(role_labels[population.role]),
        "activity_multiplier": pa.array(population.multiplier),
        "posts": pa.array(stats.posts_by_agent),
        "comments": pa.array(stats.comments_by_agent),
    }), truth_dir / "agent_roles.parquet")
    pq.write_table(cascade.cascades, truth_dir / "cascades.parquet")
    pq.write_table(cascade.adoptions, truth_dir / "adoptions.parquet")
    pq.write_table(cascade.candidates, truth_dir / "candidates.parquet")
    first_task_post = posts.n - plan.n
    task_columns = {
        "task_id": plan.ids,
        "post_id": posts.ids.slice(first_task_post),
        "requester_id": population.ids.take(pa.array(plan.requester)),
        "submolt": submolts.names.take(pa.array(plan.submolt)),
        "category": pa.array(np.array(_text.TASK_CATEGORIES)[plan.category]),
    }
    task_columns |= {k: pa.array(v) for k, v in task.truth.items()}
    pq.write_table(pa.table(task_columns), truth_dir / "task_outcomes.parquet")
    bad = run.writer.bad_table()
    pq.write_table(bad, truth_dir / "bad_records.parquet")

    n_active = int(population.active.size)
    role_counts = {name: int((population.role == i).sum()) for i, name in enumerate(_society.ROLE_LABELS)}
    unique = {
        "agents": population.n,
        "submolts": submolts.n,
        "posts": posts.n,
        "comments": int(stats.comments),
        "votes": int(stats.votes),
        "tasks": plan.n,
    }
    bad_kinds = pc.value_counts(bad["kind"]).to_pylist()
    bad_entities = pc.value_counts(bad["entity"]).to_pylist()
    kind_counts = {k: 0 for kinds in BAD_KINDS.values() for k in kinds} | {
        c["values"]: c["counts"] for c in bad_kinds}
    entity_counts = {e: 0 for e in BAD_KINDS} | {c["values"]: c["counts"] for c in bad_entities}
    rows_by_drop = {}
    for (drop, entity), rows in sorted(run.writer.rows.items()):
        rows_by_drop.setdefault(run.writer.drop_name(drop), {})[entity] = rows
    config_dict = asdict(config)
    config_dict["roles"] = [asdict(r) for r in config.roles]
    truth = {
        "version": TRUTH_VERSION,
        "seed": config.seed,
        "config": config_dict,
        "window": {"start": config.start, "end": _text.iso_ms(np.array([run.end_ms]))[0].as_py(),
                   "days": config.days},
        "layout": {
            "drops": [run.writer.drop_name(i) for i in range(config.n_drops)],
            "format": config.fmt,
            "shape": config.shape,
            "part_rows": config.part_rows,
            "drop_slice_ends": [_text.iso_ms(np.array([e]))[0].as_py() for e in run.slice_end],
            "notes": "one folder per entity, files part-NNNNN.<ext>; tasks are annotations written to the last "
                     "drop; a re-scraped copy shows its counters as of the end of its drop's slice",
        },
        "counts": {"unique": unique, "rows_by_drop": rows_by_drop, "bad_lines": int(bad.num_rows)},
        "population": {
            "agents": population.n,
            "active_agents": n_active,
            "posts": posts.n,
            "comments": int(stats.comments),
            "roles": role_counts,
        },
        "roles": {
            "names": list(_society.ROLE_NAMES),
            "k": len(_society.ROLE_NAMES),
            "periphery_share": role_counts["periphery"] / n_active,
            "shares": {r.name: role_counts[r.name] / n_active for r in config.roles},
            "file": "truth/agent_roles.parquet",
        },
        "items": {
            "kinds": list(_cascades.ITEM_KINDS),
            "normalisation": "URLs: lower-case host, no trailing slash, no query string (only utm_* tracking "
                             "parameters are ever written); hashtags: case-folded, with the '#'; mentions: 'm/name'",
            "exposure_rule": "an agent is exposed to an item each time it writes a comment replying to a comment "
                             "(or post) containing the item, or comments in the thread of a post containing it; "
                             "only exposures strictly before its adoption count; adoption is its first use",
            "planted_only": "background text has no '#', 'http' or 'm/'; every item-bearing record is a planted "
                            "comment; code spans in task posts are unique (no skill spreads); word n-grams are "
                            "not planted",
        },
        "cascades": cascade.summary["cascades"] | {"files": ["truth/cascades.parquet", "truth/adoptions.parquet",
                                                             "truth/candidates.parquet"]},
        "adoption": cascade.summary["adoption"],
        "cooperation": task.summary | {"file": "truth/task_outcomes.parquet"},
        "bad_records": {
            "total": int(bad.num_rows),
            "by_kind": kind_counts,
            "by_entity": entity_counts,
            "file": "truth/bad_records.parquet",
        },
        "expected_findings": {
            "population.agents": population.n,
            "population.active_agents": n_active,
            "population.posts": posts.n,
            "population.comments": int(stats.comments),
            "roles.k": len(_society.ROLE_NAMES),
            "roles.periphery_share": role_counts["periphery"] / n_active,
            "cascades.n": cascade.summary["cascades"]["n"],
            "cascades.alpha": cascade.summary["cascades"]["alpha"],
            "cascades.xmin": cascade.summary["cascades"]["xmin"],
            "adoption.hazard_ratio": config.adoption_hazard_ratio,
            "collab.n_events": plan.n,
        },
    }
    text = json.dumps(truth, indent=2, sort_keys=True) + "\n"
    (out / "truth.json").write_text(text)
    return json.loads(text)
