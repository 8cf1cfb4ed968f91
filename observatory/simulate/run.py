"""One simulation run put together: independent random streams, the generators in order, the records of each
drop and the planted truth (:func:`simulate`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from observatory.simulate import records
from observatory.simulate import society as _society
from observatory.simulate import spread as _cascades
from observatory.simulate import tasks as _tasks
from observatory.simulate import text as _text
from observatory.simulate.config import DAY_MS, HOUR_MS, SimulationConfig, SimulationResult
from observatory.simulate.writer import ENTITIES, DropWriter

__all__ = ["simulate"]


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

    from observatory.simulate.responses import write_responses

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
    stats = records.Stats(n_agents, posts.n, d)
    stats.posts_by_agent = np.bincount(posts.author, minlength=n_agents)
    voters = population.settled  # agents who join at a planted change do not vote (they would vote before it)
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
        records.write_votes(run, "post", posts.ids, post_votes, population)

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
        records.emit_comments(run, rng, batch, population, posts, stats, voter_weight, voters, comment_appeal,
                       background=True)
        run.progress("comments", c + 1, n_chunks)
    del thread, author, wants_reply

    run.progress("cascades", 3, steps)
    cascade = _cascades.simulate_cascades(streams.cascades, config, population, posts, submolts.names, home,
                                          start_ms, end_ms)
    records.emit_comments(run, streams.cascade_comments, cascade.batch, population, posts, stats, voter_weight, voters,
                   comment_appeal, background=True)

    run.progress("tasks", 4, steps)
    agent_last_drop, agent_copies = records.agent_copies(run, population)
    # The karma an observer sees for each agent: as of the last drop holding a copy of it.
    karma_observed = stats.karma_by_slice.cumsum(axis=1)[np.arange(n_agents), agent_last_drop]
    activity = stats.posts_by_agent + stats.comments_outside_tasks
    task = _tasks.run_tasks(streams.tasks, config, plan, population, first_task_post, karma_observed, activity,
                            end_ms)
    records.emit_comments(run, streams.task_comments, task.batch, population, posts, stats, voter_weight, voters,
                   comment_appeal, background=False)
    records.write_tasks(run, plan, task, posts, population, first_task_post)

    run.progress("posts", 5, steps)
    records.write_posts(run, posts, post_votes, stats, population, submolts, first_task_post)
    run.progress("agents", 6, steps)
    records.write_agents(run, population, stats, agent_copies)
    records.write_submolts(run, submolts, posts, population)

    run.progress("truth", 7, steps)
    truth = records.write_truth(run, population, submolts, posts, stats, cascade, task, plan)
    run.progress("done", steps, steps)
    return truth
