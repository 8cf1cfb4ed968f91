"""The background society: agents with planted roles, submolts, posts, threaded comments and votes.

All of it is drawn with numpy from per-component random streams; nothing here loops over records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from observatory.simulate import text
from observatory.simulate.config import DAY_MS, HOUR_MS, ROLE_NAMES  # noqa: F401 (the generators import them from here)

INACTIVE = len(ROLE_NAMES)  # role code of registered agents that never post or comment
ROLE_LABELS = ROLE_NAMES + ("inactive",)


def lognormal_mean_one(rng: np.random.Generator, sigma: float, size) -> np.ndarray:
    """Lognormal multipliers with mean exactly one: heavy-tailed heterogeneity that leaves expected totals alone."""
    return rng.lognormal(-0.5 * sigma * sigma, sigma, size=size)


def later(t0_ms: np.ndarray, delay_ms: np.ndarray, limit_ms, min_gap_ms: int = 1000) -> np.ndarray:
    """``t0 + delay`` squeezed into ``(t0, limit)``: ``t0 + R (1 - exp(-delay / R))`` with ``R = limit - t0``.

    Short delays are left almost unchanged; long ones approach the limit without reaching it. The result is an
    integer millisecond at least ``min_gap_ms`` after ``t0`` and before ``limit`` (callers keep
    ``t0 <= limit - 2 * min_gap_ms``).
    """
    t0 = np.asarray(t0_ms, dtype=np.int64)
    room = np.maximum(np.asarray(limit_ms, dtype=np.float64) - t0, 1.0)
    t = t0 + np.floor(room * -np.expm1(-np.asarray(delay_ms, dtype=np.float64) / room)).astype(np.int64)
    return np.minimum(np.maximum(t, t0 + min_gap_ms), np.asarray(limit_ms, dtype=np.int64) - 1)


def weighted_draw(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """``size`` indices drawn with replacement with probability proportional to ``weights``."""
    cdf = np.cumsum(weights, dtype=np.float64)
    picks = np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right")
    return np.minimum(picks, weights.size - 1)


def segment_starts(keys: np.ndarray) -> np.ndarray:
    """For sorted ``keys``, the index where each element's run of equal keys starts."""
    n = keys.size
    is_start = np.ones(n, dtype=bool)
    is_start[1:] = keys[1:] != keys[:-1]
    return np.maximum.accumulate(np.where(is_start, np.arange(n), 0))


def strictly_increasing_within(times: np.ndarray, segment_start: np.ndarray, step: int = 1) -> np.ndarray:
    """Raise ``times`` as little as possible so they increase by at least ``step`` within each segment.

    ``s_j = max(t_j, s_{j-1} + step)`` is ``cummax(t_j - step j) + step j`` in each segment; segments are kept apart
    by adding a per-segment offset larger than any time span before the running maximum.
    """
    n = times.size
    if n == 0:
        return times
    pos = np.arange(n) - segment_start
    segment_id = np.cumsum(np.r_[True, segment_start[1:] != segment_start[:-1]]) - 1
    base = times.min()
    spread = int(times.max() - base) + step * n + 1
    shifted = (times - base) - step * pos + segment_id.astype(np.int64) * spread
    return np.maximum.accumulate(shifted) - segment_id.astype(np.int64) * spread + step * pos + base


# --------------------------------------------------------------------------------------------------------------
# Agents


@dataclass
class Population:
    """Agents and what the simulator planted in each: role, activity multiplier and expected activity."""

    ids: pa.Array
    names: pa.Array
    role: np.ndarray  # int8 codes into ROLE_LABELS
    multiplier: np.ndarray  # lognormal activity multiplier (mean 1)
    created_ms: np.ndarray
    comment_rate: np.ndarray  # expected background comments over the window (0 for inactive agents)
    post_rate: np.ndarray  # expected background posts over the window
    active: np.ndarray  # indices of active agents
    # When each agent's activity starts: the window's start, or later for agents who join at a planted change
    # (None: every agent from the start).
    joined_ms: np.ndarray | None = None

    @property
    def settled(self) -> np.ndarray:
        """The active agents active from the window's start (those who take part in cascades, tasks and votes)."""
        if self.joined_ms is None:
            return self.active
        return self.active[self.joined_ms[self.active] == self.joined_ms[self.active].min()]

    @property
    def n(self) -> int:
        return self.role.size


def role_counts(n_active: int, shares: np.ndarray) -> np.ndarray:
    """Exact role sizes: each role its share of the active agents rounded down, the remainder to the largest."""
    counts = np.floor(shares / shares.sum() * n_active).astype(np.int64)
    counts[np.argmax(shares)] += n_active - counts.sum()
    return counts


def make_population(rng: np.random.Generator, config, start_ms: int, end_ms: int) -> Population:
    n = config.n_agents
    roles = config.roles
    n_active = int(round(config.active_share * n))
    counts = role_counts(n_active, np.array([r.share for r in roles]))
    role = np.full(n, INACTIVE, dtype=np.int8)
    order = rng.permutation(n)
    role[order[:n_active]] = np.repeat(np.arange(len(roles), dtype=np.int8), counts)
    joiners = np.empty(0, dtype=np.int64)
    if config.change_at_day is not None and config.role_growth_after is not None:
        # Agents of one role who join at the change, from the inactive: factor - 1 times as many as it had.
        grown = ROLE_NAMES.index(config.role_growth_after[0])
        extra = int(round((config.role_growth_after[1] - 1) * counts[grown]))
        joiners = order[n_active:n_active + extra]
        role[joiners] = grown
    sigma = np.array([r.activity_sigma for r in roles] + [0.0])[role]
    multiplier = lognormal_mean_one(rng, sigma, n)
    days = config.days
    per_day_comments = np.array([r.comments_per_day for r in roles] + [0.0])
    per_day_posts = np.array([r.posts_per_day for r in roles] + [0.0])
    comment_rate = per_day_comments[role] * days * multiplier
    post_rate = per_day_posts[role] * days * multiplier
    change_ms = start_ms + int((config.change_at_day or 0) * DAY_MS)
    if joiners.size:
        # Active only from the change: the same daily rates over the part of the window left.
        left = (end_ms - change_ms) / (end_ms - start_ms)
        comment_rate[joiners] *= left
        post_rate[joiners] *= left
    # Active agents registered before the observation window opens; the rest register at any time in it. Keeping
    # registration before any activity this way needs no look at what the agent later wrote.
    lead_ms = int(config.registration_lead_days * DAY_MS)
    created = rng.integers(start_ms - lead_ms, end_ms - HOUR_MS, size=n)
    active_mask = role != INACTIVE
    settled = active_mask.copy()
    settled[joiners] = False
    created[settled] = rng.integers(start_ms - lead_ms, start_ms, size=int(settled.sum()))
    joined_ms = None
    if joiners.size:
        created[joiners] = rng.integers(change_ms - lead_ms, change_ms, size=joiners.size)
        joined_ms = np.full(n, start_ms, dtype=np.int64)
        joined_ms[joiners] = change_ms
    ids = text.uuid_strings(rng, n)
    names = text.agent_names(rng, n, config.hostile_share)
    return Population(
        ids=ids,
        names=names,
        role=role,
        multiplier=multiplier,
        created_ms=created.astype(np.int64),
        comment_rate=comment_rate,
        post_rate=post_rate,
        active=np.flatnonzero(active_mask),
        joined_ms=joined_ms,
    )


def role_array(population: Population, attribute: str, config) -> np.ndarray:
    """A per-agent array of one :class:`RoleProfile` attribute (0 for inactive agents)."""
    values = np.array([getattr(r, attribute) for r in config.roles] + [0.0])
    return values[population.role]


# --------------------------------------------------------------------------------------------------------------
# Submolts


@dataclass
class Submolts:
    ids: pa.Array
    names: pa.Array
    display_names: pa.Array
    popularity: np.ndarray  # Zipf weights: the chance a background post lands here
    technical: np.ndarray  # bool: where task threads are posted
    created_ms: np.ndarray
    owner: np.ndarray  # agent index

    @property
    def n(self) -> int:
        return self.popularity.size


def make_submolts(rng: np.random.Generator, config, population: Population, start_ms: int) -> Submolts:
    n = config.resolved_n_submolts
    technical_names = list(text.TECHNICAL_SUBMOLTS)
    fixed = ["general"] + technical_names
    n_generated = n - len(fixed)
    first = pc.utf8_lower(pa.array(text.NOUNS).take(pa.array(rng.integers(0, len(text.NOUNS), size=n_generated))))
    second = pa.array(text.GENERAL_WORDS).take(pa.array(rng.integers(0, 120, size=n_generated)))
    # Letters and digits only, unique by a distinct number: names as Moltbook allows them.
    generated = pc.binary_join_element_wise(first, second, text.int_strings(rng.permutation(n_generated) + 1), "")
    names = pa.concat_arrays([pa.array(fixed), generated.cast(pa.string())])
    display = pc.utf8_title(pc.replace_substring(names, "machinelearning", "machine learning"))
    # Zipf popularity: "general" is the most popular, technical submolts mid-table, the rest in random order.
    ranks = np.empty(n, dtype=np.int64)
    ranks[0] = 1
    others = rng.permutation(np.arange(2, n + 1))
    ranks[1:] = others
    popularity = ranks.astype(float) ** -config.submolt_zipf
    technical = np.zeros(n, dtype=bool)
    technical[1 : 1 + len(technical_names)] = True
    owners = population.settled[rng.integers(0, population.settled.size, size=n)]
    # Created by its owner after the owner registered, before the window opens.
    owner_created = population.created_ms[owners]
    created = owner_created + np.floor(rng.random(n) * (start_ms - owner_created)).astype(np.int64)
    return Submolts(
        ids=text.uuid_strings(rng, n),
        names=names,  # "general", the technical submolts, then generated names
        display_names=display,
        popularity=popularity,  # Zipf weights of where posts go
        technical=technical,  # where task threads are posted
        created_ms=created.astype(np.int64),
        owner=owners,
    )


# --------------------------------------------------------------------------------------------------------------
# Posts


@dataclass
class Posts:
    """Background posts first, then task posts; text is drawn when the posts are written."""

    ids: pa.Array
    author: np.ndarray
    submolt: np.ndarray
    created_ms: np.ndarray
    appeal: np.ndarray  # relative chance of drawing a comment (0 for task posts: their threads are planted)
    is_task: np.ndarray
    is_pinned: np.ndarray
    task_title: pa.Array | None = None
    task_content: pa.Array | None = None

    @property
    def n(self) -> int:
        return self.author.size

    def open_threads(self):
        """Non-task posts sorted by time with cumulative appeal: where a comment at time t may be placed."""
        candidates = np.flatnonzero(~self.is_task)
        order = candidates[np.argsort(self.created_ms[candidates], kind="stable")]
        return order, self.created_ms[order], np.cumsum(self.appeal[order])

    def pick_threads(self, rng: np.random.Generator, at_ms: np.ndarray, submolt: np.ndarray | None = None
                     ) -> np.ndarray:
        """For each time, a non-task post created strictly before it, chosen in proportion to appeal.

        Where ``submolt[i] >= 0`` the post is taken from that submolt if it has one old enough, else from anywhere.
        """
        order, created, cumulative = self.open_threads()
        available = np.searchsorted(created, at_ms, side="left")
        if np.any(available == 0):
            raise ValueError("a comment would need a thread before the first post; start cascades later")
        ceiling = cumulative[available - 1]
        picks = order[np.minimum(np.searchsorted(cumulative, rng.random(at_ms.size) * ceiling, side="right"),
                                 available - 1)]
        if submolt is None or not np.any(submolt >= 0):
            return picks
        # The same draw within one submolt: posts sorted by (submolt, time), cumulative appeal along that order.
        candidates = np.flatnonzero(~self.is_task)
        by_place = candidates[np.lexsort((self.created_ms[candidates], self.submolt[candidates]))]
        place, place_created = self.submolt[by_place].astype(np.int64), self.created_ms[by_place]
        span = int(place_created.max() - place_created.min()) + 2
        key = place * span + (place_created - place_created.min())
        place_cumulative = np.r_[0.0, np.cumsum(self.appeal[by_place])]
        confined = np.flatnonzero(submolt >= 0)
        home = submolt[confined].astype(np.int64)
        low = np.searchsorted(place, home, side="left")
        high = np.searchsorted(key, home * span + (at_ms[confined] - place_created.min()), side="left")
        ok = high > low
        base, top = place_cumulative[low[ok]], place_cumulative[high[ok]]
        inner = np.searchsorted(place_cumulative, base + rng.random(int(ok.sum())) * (top - base), side="right") - 1
        picks[confined[ok]] = by_place[np.clip(inner, low[ok], high[ok] - 1)]
        return picks


def background_post_counts(rng: np.random.Generator, population: Population, config
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Posts and comments each agent writes in the background: Poisson given the agent's rates, at least its
    role's ``min_comments``; every active agent writes at least one record."""
    posts = rng.poisson(population.post_rate)
    comments = np.maximum(rng.poisson(population.comment_rate),
                          role_array(population, "min_comments", config).astype(np.int64))
    idle = (posts + comments == 0) & (population.role != INACTIVE)
    comments[idle] = 1
    return posts, comments


def make_posts(
    rng: np.random.Generator,
    config,
    population: Population,
    submolts: Submolts,
    post_counts: np.ndarray,
    task_plan,
    start_ms: int,
    end_ms: int,
) -> Posts:
    author = np.repeat(np.arange(population.n, dtype=np.int32), post_counts)
    n_background = author.size
    submolt = weighted_draw(rng, submolts.popularity, n_background).astype(np.int32)
    created = rng.integers(start_ms, end_ms - HOUR_MS, size=n_background).astype(np.int64)
    if population.joined_ms is not None:
        late = np.flatnonzero(population.joined_ms[author] > start_ms)
        created[late] = rng.integers(population.joined_ms[author[late]], end_ms - HOUR_MS)
    post_appeal = role_array(population, "post_appeal", config)[author] * population.multiplier[author]
    noise = lognormal_mean_one(rng, config.post_appeal_sigma, n_background)
    # A post written just before the scrape has had little time to draw comments.
    exposure_time = -np.expm1(-(end_ms - created) / DAY_MS)
    appeal = post_appeal * noise * exposure_time
    pinned = rng.random(n_background) < 0.002
    n_tasks = task_plan.n
    return Posts(
        ids=text.uuid_strings(rng, n_background + n_tasks),
        author=np.concatenate([author, task_plan.requester.astype(np.int32)]),
        submolt=np.concatenate([submolt, task_plan.submolt.astype(np.int32)]),
        created_ms=np.concatenate([created, task_plan.created_ms]),
        appeal=np.concatenate([appeal, np.zeros(n_tasks)]),
        is_task=np.concatenate([np.zeros(n_background, dtype=bool), np.ones(n_tasks, dtype=bool)]),
        is_pinned=np.concatenate([pinned, np.zeros(n_tasks, dtype=bool)]),
        task_title=task_plan.title,
        task_content=task_plan.content,
    )


# --------------------------------------------------------------------------------------------------------------
# Comments


@dataclass
class CommentBatch:
    """Comments that reference each other only within the batch (``parent`` is a local index, -1 for top level).

    ``content`` is given for planted text (items, tasks); otherwise background text is drawn when written.
    """

    post: np.ndarray
    parent: np.ndarray
    author: np.ndarray
    created_ms: np.ndarray
    depth: np.ndarray
    content: pa.Array | None = None
    voted: bool = True

    @property
    def n(self) -> int:
        return self.post.size


class ThreadPicker:
    """Draws threads for comments: among all open posts, or among those of one submolt, in proportion to appeal."""

    def __init__(self, posts: Posts, n_submolts: int):
        open_posts = np.flatnonzero(posts.appeal > 0)
        self.order = open_posts[np.argsort(posts.submolt[open_posts], kind="stable")]
        self.cumulative = np.cumsum(posts.appeal[self.order])
        bounds = np.searchsorted(posts.submolt[self.order], np.arange(n_submolts + 1))
        padded = np.r_[0.0, self.cumulative]
        self.base = padded[bounds[:-1]]
        self.total = padded[bounds[1:]] - self.base  # open appeal of each submolt

    def pick(self, rng: np.random.Generator, submolt: np.ndarray | None, size: int) -> np.ndarray:
        """Posts for ``size`` comments; ``submolt[i] >= 0`` confines comment ``i`` to that submolt."""
        u = rng.random(size)
        target = u * self.cumulative[-1]
        if submolt is not None:
            confined = submolt >= 0
            target = np.where(confined, self.base[np.maximum(submolt, 0)] + u * self.total[np.maximum(submolt, 0)],
                              target)
        picks = np.searchsorted(self.cumulative, target, side="right")
        return self.order[np.minimum(picks, self.order.size - 1)]


def home_submolts(rng: np.random.Generator, picker: ThreadPicker, n_agents: int) -> np.ndarray:
    """Each agent's home submolt, in proportion to the open appeal of its threads."""
    return weighted_draw(rng, picker.total, n_agents)


def comment_slots(rng: np.random.Generator, config, population: Population, posts: Posts, comment_counts,
                  n_submolts: int):
    """Who writes each background comment, whether it means to reply to a comment, and in which thread (and
    each agent's home submolt).

    Threads are chosen in proportion to post appeal (hubs' posts draw most), never the author's own post; a share
    of each agent's comments (its role's ``home_share``) stays in the threads of its home submolt. The result is
    sorted by thread, and within a thread by an exponential race weighted by the author's comment appeal.
    """
    author = np.repeat(np.arange(population.n, dtype=np.int32), comment_counts)
    wants_reply = rng.random(author.size) < role_array(population, "reply_share", config)[author]
    picker = ThreadPicker(posts, n_submolts)
    home = home_submolts(rng, picker, population.n)
    at_home = rng.random(author.size) < role_array(population, "home_share", config)[author]
    confined = np.where(at_home, home[author], -1)
    thread = picker.pick(rng, confined, author.size)
    for _ in range(8):
        own = np.flatnonzero(posts.author[thread] == author)
        if own.size == 0:
            break
        thread[own] = picker.pick(rng, confined[own], own.size)
    keep = posts.author[thread] != author
    if population.joined_ms is not None:
        # An agent who joins later writes only in threads that start after it joined.
        for _ in range(16):
            early = np.flatnonzero(posts.created_ms[thread] < population.joined_ms[author])
            if early.size == 0:
                break
            thread[early] = picker.pick(rng, np.full(early.size, -1), early.size)
        keep &= (posts.created_ms[thread] >= population.joined_ms[author]) & (posts.author[thread] != author)
    author, wants_reply, thread = author[keep], wants_reply[keep], thread[keep]
    # Within a thread, comments of appealing authors tend to come first (an exponential race weighted by appeal),
    # so hubs' comments are there early to draw the replies that come after them.
    appeal = role_array(population, "comment_appeal", config) * population.multiplier
    order = np.lexsort((rng.exponential(size=author.size) / appeal[author], thread))
    return thread[order].astype(np.int32), author[order], wants_reply[order], home


def chunk_edges(thread: np.ndarray, target_rows: int) -> np.ndarray:
    """Chunk boundaries at thread boundaries, each chunk about ``target_rows`` slots (a thread is never split)."""
    n = thread.size
    if n == 0:
        return np.array([0, 0])
    starts = np.flatnonzero(np.r_[True, thread[1:] != thread[:-1]])
    marks = np.arange(target_rows, n, target_rows)
    cut = starts[np.maximum(np.searchsorted(starts, marks, side="right") - 1, 0)]
    return np.unique(np.r_[0, cut, n])


def depth_of(parent: np.ndarray) -> np.ndarray:
    """Depth of each comment (0 for top level) by pointer jumping: ``O(log depth)`` vectorised passes.

    Invariant: ``depth(i) = hops[i] + depth(ancestor[i])``; each pass doubles the distance ``ancestor`` jumps.
    """
    hops = (parent >= 0).astype(np.int64)
    ancestor = parent.astype(np.int64, copy=True)
    while True:
        idx = np.flatnonzero(ancestor >= 0)
        if idx.size == 0:
            return hops
        up = ancestor[idx]
        hops[idx] += hops[up]
        ancestor[idx] = ancestor[up]


def build_threads(
    rng: np.random.Generator,
    config,
    population: Population,
    posts: Posts,
    thread: np.ndarray,
    author: np.ndarray,
    wants_reply: np.ndarray,
    end_ms: int,
) -> CommentBatch:
    """Threaded background comments for slots sorted by thread.

    Each comment that means to reply picks an earlier comment of the same thread in proportion to its author's
    comment appeal (never its own); a reply between two agents who reciprocate (``r_a``, ``r_b``) is answered with
    probability ``sqrt(r_a r_b)``, and the answer in turn, building back-and-forth chains. Times increase along
    each thread from the post's creation, so a reply is always later than what it replies to.
    """
    n = thread.size
    start = segment_starts(thread)
    pos = np.arange(n) - start
    weight = role_array(population, "comment_appeal", config)[author] * population.multiplier[author]
    weight = weight * lognormal_mean_one(rng, config.post_appeal_sigma, n)
    cumulative = np.cumsum(weight)
    below = np.where(start > 0, cumulative[np.maximum(start - 1, 0)], 0.0)
    parent = np.full(n, -1, dtype=np.int64)
    for _ in range(4):
        idx = np.flatnonzero(wants_reply & (pos > 0) & (parent < 0))
        if idx.size == 0:
            break
        low, high = below[idx], cumulative[idx - 1]
        pick = np.searchsorted(cumulative, low + rng.random(idx.size) * (high - low), side="right")
        pick = np.clip(pick, start[idx], idx - 1)
        ok = author[pick] != author[idx]
        parent[idx[ok]] = pick[ok]
    # Times along the thread: each comment an exponential delay after the post (attention decays the same way
    # whatever the thread's size, so that activity is stationary over the window), sorted to follow the thread's
    # order, squeezed into the window.
    delay = rng.exponential(config.comment_delay_hours * HOUR_MS, size=n)
    offset = delay[np.lexsort((delay, thread))]
    created = later(posts.created_ms[thread], offset, end_ms - 60_000)
    created = strictly_increasing_within(created, start)
    # Reply chains: the author of the parent answers a reply with its role's reciprocity, and the answer may be
    # answered in turn, level by level, so reciprocating agents build long back-and-forth chains.
    reciprocity = role_array(population, "reciprocity", config)
    all_parent, all_author, all_thread, all_created = [parent], [author], [thread], [created]
    asked = np.flatnonzero(parent >= 0)
    asked_author, asked_parent_author = author[asked], author[parent[asked]]
    asked_thread, asked_created = thread[asked], created[asked]
    total = n
    for _ in range(50):
        # Conversations go on between agents that both reciprocate: an answer comes with probability
        # sqrt(r_answerer * r_asker); it needs room before the end of the window to come after what it answers.
        mutual = np.sqrt(reciprocity[asked_parent_author] * reciprocity[asked_author])
        answered = (rng.random(asked.size) < mutual) & (asked_created < end_ms - 5000)
        if not answered.any():
            break
        back_created = later(asked_created[answered],
                             rng.exponential(config.thread_gap_minutes * 60_000.0, size=int(answered.sum())),
                             end_ms - 1000)
        back_author = asked_parent_author[answered]
        all_parent.append(asked[answered])
        all_author.append(back_author)
        all_thread.append(asked_thread[answered])
        all_created.append(back_created)
        new_index = np.arange(total, total + back_created.size)
        total += back_created.size
        asked, asked_parent_author = new_index, asked_author[answered]
        asked_author, asked_thread, asked_created = back_author, asked_thread[answered], back_created
    all_parent = np.concatenate(all_parent)
    return CommentBatch(
        post=np.concatenate(all_thread).astype(np.int32),
        parent=all_parent,
        author=np.concatenate(all_author).astype(np.int32),
        created_ms=np.concatenate(all_created),
        depth=depth_of(all_parent),
    )


def population_reciprocity(population: Population, config) -> np.ndarray:
    return role_array(population, "reciprocity", config)


# --------------------------------------------------------------------------------------------------------------
# Votes


@dataclass
class Votes:
    voter: np.ndarray
    target: np.ndarray  # local index of the voted record
    value: np.ndarray  # +1 / -1
    created_ms: np.ndarray
    up: np.ndarray  # per target
    down: np.ndarray  # per target


def draw_votes(
    rng: np.random.Generator,
    target_author: np.ndarray,
    target_ms: np.ndarray,
    mean_up: np.ndarray,
    downvote_share: float,
    voter_weight: np.ndarray,
    voters: np.ndarray,
    end_ms: int,
) -> Votes:
    """Votes on records: one per voter and record at most, never on one's own, counts equal to the votes.

    Upvotes and downvotes are Poisson; voters are active agents in proportion to their activity; a vote comes an
    exponential delay (mean 12 h) after the record. Duplicate and self votes are dropped, and the record's counters
    are the votes that remain, so ``upvotes``/``downvotes`` and the votes table always agree.
    """
    n = target_author.size
    n_up = rng.poisson(mean_up)
    n_down = rng.poisson(mean_up * downvote_share)
    total = n_up + n_down
    target = np.repeat(np.arange(n, dtype=np.int64), total)
    first = np.repeat(np.cumsum(total) - total, total)
    value = np.where(np.arange(target.size) - first < n_up[target], 1, -1).astype(np.int8)
    voter = voters[weighted_draw(rng, voter_weight, target.size)]
    key = target * (int(voters.max(initial=0)) + 1) + voter
    _, first_seen = np.unique(key, return_index=True)
    keep = np.zeros(target.size, dtype=bool)
    keep[first_seen] = True
    keep &= voter != target_author[target]
    # A vote must come strictly after its record: records written in the window's last seconds get none.
    keep &= target_ms[target] < end_ms - 3000
    target, value, voter = target[keep], value[keep], voter[keep]
    created = later(target_ms[target], rng.exponential(12 * HOUR_MS, size=target.size), end_ms - 1000)
    up = np.bincount(target[value > 0], minlength=n)
    down = np.bincount(target[value < 0], minlength=n)
    return Votes(voter.astype(np.int32), target, value, created, up, down)
