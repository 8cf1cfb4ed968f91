"""Each entity's records of a simulated society, as the drop writer writes them, and the planted truth."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from observatory.simulate import society as _society
from observatory.simulate import spread as _cascades
from observatory.simulate import text as _text
from observatory.simulate.config import TRUTH_VERSION
from observatory.simulate.writer import BAD_KINDS

if TYPE_CHECKING:
    from observatory.simulate.run import _Run


def as_of(by_slice: np.ndarray, drop: int) -> np.ndarray:
    """Counters as of the end of slice ``drop`` from per-slice increments ``(n, n_drops)``."""
    return by_slice[:, : drop + 1].sum(axis=1)


def nullable(values: pa.Array, present: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(present), values, pa.scalar(None, values.type))


class Stats:
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


def write_votes(run: _Run, target_type: str, target_ids: pa.Array, votes: _society.Votes, population) -> None:
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


def emit_comments(run: _Run, rng, batch: _society.CommentBatch, population, posts, stats: Stats, voter_weight,
                   voters, comment_appeal, background: bool) -> None:
    """Ids, text, votes and counters of a batch of comments, written to the drops that hold a copy of each."""
    config = run.config
    d = config.n_drops
    n = batch.n
    if n == 0:
        return
    ids = _text.uuid_strings(rng, n)
    parent_ids = nullable(ids.take(pa.array(np.maximum(batch.parent, 0))), batch.parent >= 0)
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
        write_votes(run, "comment", ids, votes, population)
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
            "upvotes": pa.array(as_of(up_by_slice[rows], drop)),
            "downvotes": pa.array(as_of(down_by_slice[rows], drop)),
            "depth": pa.array(batch.depth[rows].astype(np.int64)),
            "created_at": created_at.take(take),
            observed_name: observed,
        }
        select = _API_COMMENT_SELECT if config.shape == "api" else "SELECT * FROM part"
        run.writer.write("comments", drop, pa.table(columns), select)


def agent_copies(run: _Run, population):
    created_slice = run.slice_of(population.created_ms)
    copies = run.copies(created_slice)
    last = np.zeros(population.n, dtype=np.int64)
    for drop, rows in enumerate(copies):
        last[rows] = drop
    return last, copies


def write_tasks(run: _Run, plan, task, posts, population, first_task_post: int) -> None:
    table = task.table
    last = run.config.n_drops - 1
    resolved_at = nullable(_text.iso_ms(np.maximum(table["resolved_ms"], 0)), table["resolved"])
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


def write_posts(run: _Run, posts, post_votes, stats: Stats, population, submolts, first_task_post: int) -> None:
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
                "upvotes": pa.array(as_of(up_by_slice[post], drop)),
                "downvotes": pa.array(as_of(down_by_slice[post], drop)),
                "comment_count": pa.array(as_of(stats.post_comments_by_slice[post], drop)),
                "is_pinned": pa.array(posts.is_pinned[post]),
                "created_at": _text.iso_ms(posts.created_ms[post]),
                observed_name: observed,
            }
            run.writer.write("posts", drop, pa.table(columns))


def write_agents(run: _Run, population, stats: Stats, copies) -> None:
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
    handle = nullable(handle, claimed)
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


def write_submolts(run: _Run, submolts, posts, population) -> None:
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
            "post_count": pa.array(as_of(posts_by_slice[rows], drop)),
            "created_at": _text.iso_ms(submolts.created_ms[rows]),
            "owner": population.names.take(owner),
            "owner_id": population.ids.take(owner),
            observed_name: observed,
        }))


def write_truth(run: _Run, population, submolts, posts, stats: Stats, cascade, task, plan) -> dict:
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
        **({"change": _planted_change(config, population, run)} if config.change_at_day is not None else {}),
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
                            "not planted; background text carries no prompt injection (injection campaigns, when planted, are cascades)",
        },
        "cascades": cascade.summary["cascades"] | {"files": ["truth/cascades.parquet", "truth/adoptions.parquet",
                                                             "truth/candidates.parquet"]},
        "adoption": cascade.summary["adoption"],
        "injection": cascade.summary["injection"],
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
            # With a planted change there is no one ratio for the whole window (truth["change"] has both).
            # Nor with injection campaigns, whose ratio differs: the ordinary items' ratio is the planted one.
            "adoption.hazard_ratio": config.adoption_hazard_ratio
            if config.hazard_ratio_after is None and not config.injection_campaigns else None,
            "adoption.hazard_ratio_ordinary": config.adoption_hazard_ratio if config.hazard_ratio_after is None
            else None,
            "adoption.hazard_ratio_injection": config.injection_hazard_ratio if config.injection_campaigns else None,
            "collab.n_events": plan.n,
        },
    }
    text = json.dumps(truth, indent=2, sort_keys=True) + "\n"
    (out / "truth.json").write_text(text)
    return json.loads(text)


def _planted_change(config, population, run) -> dict:
    """What changed at the planted change: when, the hazard ratio before and after, and the role that grew."""
    at_ms = run.start_ms + int(config.change_at_day * _society.DAY_MS)
    change = {"at_day": config.change_at_day, "at": _text.iso_ms(np.array([at_ms]))[0].as_py()}
    if config.hazard_ratio_after is not None:
        change |= {"hazard_ratio_before": config.adoption_hazard_ratio,
                   "hazard_ratio_after": config.hazard_ratio_after}
    if config.role_growth_after is not None:
        role, factor = config.role_growth_after
        joined = population.joined_ms
        n_joiners = int((joined > joined.min()).sum()) if joined is not None else 0
        change |= {"role": role, "factor": factor, "joiners": n_joiners,
                   "note": f"{n_joiners} agents of role {role} registered just before the change and write nothing "
                           "before it; they take no part in cascades, tasks or votes"}
    return change
