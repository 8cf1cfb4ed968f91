"""Planted cooperation: task threads solved by one agent or by several, with confounded assignment.

Each task is a post in a technical submolt. Its pre-treatment covariates are all observable in a drop: the
submolt, the seed post's length in words, whether it holds a code span (three backticks), its technical keyword
density, the hour and weekday it was posted, and its requester's karma and activity. Two logistic models share
those covariates (standardised over the tasks, ``z``):

.. math::

    P(T = 1 \\mid x) = \\sigma(a_0 + \\gamma^\\top z), \\qquad
    P(Y = 1 \\mid x, T) = \\sigma(b_0 + \\beta^\\top z + s_{submolt} + h(hour, weekday) + \\tau T)

where ``T = 1`` is multi-agent work (2 to ``max_contributors`` distinct contributors besides the requester) and
``T = 0`` single-agent work (exactly one). Code presence, length, keyword density and karma enter both models,
so the naive multi-vs-single difference is biased; ``tau`` (``cooperation_effect``) is the effect on the logit
of success. ``quality = sigma(eta + e)`` with ``e ~ N(0, quality_noise^2)`` and ``eta`` the success logit.
The truth is the ATT on success, mean over treated tasks of ``p1 - p0``, and on quality (by Gauss-Hermite
quadrature over ``e``), both from the known model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.optimize import brentq
from scipy.special import expit

from observatory.simulate import text
from observatory.simulate.society import (
    DAY_MS,
    HOUR_MS,
    CommentBatch,
    Population,
    Submolts,
    depth_of,
    later,
    segment_starts,
    strictly_increasing_within,
    weighted_draw,
)

CONFOUNDERS = ("has_code", "log_words", "keyword_density", "log1p_karma", "log1p_activity")
# Effects of the standardised confounders on choosing multi-agent work (gamma) and on success (beta).
TREATMENT_COEFFICIENTS = {"has_code": 0.9, "log_words": 0.7, "keyword_density": 0.5, "log1p_karma": 0.6,
                          "log1p_activity": 0.3}
OUTCOME_COEFFICIENTS = {"has_code": 0.9, "log_words": -0.3, "keyword_density": 0.5, "log1p_karma": 0.7,
                        "log1p_activity": 0.2}
HOUR_AMPLITUDE = 0.25  # success peaks for tasks posted around 14:00 UTC
WEEKEND_EFFECT = -0.2
SUBMOLT_EFFECT_SD = 0.2
BASELINE_SUCCESS = 0.55  # mean success probability without cooperation, which fixes b0


@dataclass
class TaskPlan:
    """Task posts, drawn before the background so that they are ordinary posts of the society."""

    ids: pa.Array
    requester: np.ndarray
    submolt: np.ndarray
    created_ms: np.ndarray
    category: np.ndarray
    has_code: np.ndarray
    n_words: np.ndarray  # words of prose in the seed post
    n_keywords: np.ndarray
    title: pa.Array
    content: pa.Array

    @property
    def n(self) -> int:
        return self.requester.size


# Code spans, split where the task's number goes (twice in each): "head", number, "middle", number, "tail".
_CODE_TEMPLATES = (
    ("```python\ndef solve_", "(items):\n    return sorted(items, key=len)\n\nsolve_", "([])\n```"),
    ("```python\nimport json\nrecord_", " = json.loads(payload)\nprint(record_", "['value'])\n```"),
    ("```sql\nselect agent_id, count(*) as n_", " from comments_", " group by agent_id;\n```"),
    ("```rust\nfn parse_", "(input: &str) -> Option<u32> { input.trim().parse().ok() } // parse_", "\n```"),
    ("```bash\ndocker run --rm -e TASK=", " worker:latest --name job_", "\n```"),
)
text._assert_item_free([piece for template in _CODE_TEMPLATES for piece in template])


def plan_tasks(rng: np.random.Generator, config, population: Population, submolts: Submolts, start_ms: int,
               end_ms: int) -> TaskPlan:
    active = population.settled  # agents who join at a planted change take no part in tasks
    n = int(round(config.tasks_per_active_agent * active.size))
    # Requesters are agents whose posts draw answers: in proportion to posting rate times post appeal.
    post_appeal = np.array([r.post_appeal for r in config.roles] + [0.0])[population.role]
    requester = active[weighted_draw(rng, (population.post_rate * post_appeal)[active], n)]
    technical = np.flatnonzero(submolts.technical)
    submolt = technical[weighted_draw(rng, np.sqrt(submolts.popularity[technical]), n)]
    created = rng.integers(start_ms, start_ms + int(0.85 * config.days * DAY_MS), size=n).astype(np.int64)
    category = rng.integers(0, len(text.TASK_CATEGORIES), size=n)
    has_code = rng.random(n) < 0.4
    n_words = np.maximum(8, np.round(rng.lognormal(np.log(45.0), 0.6, size=n))).astype(np.int64)
    density = rng.beta(2.0, 6.0, size=n)
    prose, n_keywords = text.random_text(rng, n_words, tech_share=density, count_tech=True)
    # Every code span is unique (its identifiers carry the task's number) so that no skill spreads through tasks.
    template = pa.array(rng.integers(0, len(_CODE_TEMPLATES), size=n))
    head, middle, tail = (pa.array([t[i] for t in _CODE_TEMPLATES]).take(template) for i in range(3))
    number = text.int_strings(rng.permutation(n) + 1)
    code = pc.binary_join_element_wise(head, number, middle, number, tail, "")
    content = pc.if_else(pa.array(has_code), pc.binary_join_element_wise(prose, code, "\n\n"), prose)
    title = text.random_text(rng, text.word_counts(rng, n, 6.0, minimum=3), tech_share=0.5)
    return TaskPlan(
        ids=text.uuid_strings(rng, n),
        requester=requester,
        submolt=submolt,
        created_ms=created,
        category=category,
        has_code=has_code,
        n_words=n_words,
        n_keywords=n_keywords,
        title=title,
        content=content,
    )


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / (sd if sd > 0 else 1.0)


def _calibrate_intercept(linear: np.ndarray, target_mean: float) -> float:
    return brentq(lambda a: expit(a + linear).mean() - target_mean, -30.0, 30.0)


def _mean_quality(eta: np.ndarray, noise_sd: float) -> np.ndarray:
    # E[sigma(eta + e)], e ~ N(0, sd^2), by 40-point Gauss-Hermite quadrature.
    nodes, weights = np.polynomial.hermite.hermgauss(40)
    return (expit(eta[:, None] + np.sqrt(2.0) * noise_sd * nodes[None, :]) * weights).sum(axis=1) / np.sqrt(np.pi)


@dataclass
class TaskResult:
    batch: CommentBatch
    table: dict  # columns of the tasks records (besides ids, which the caller resolves)
    truth: dict  # columns of truth/task_outcomes.parquet
    summary: dict


def run_tasks(
    rng: np.random.Generator,
    config,
    plan: TaskPlan,
    population: Population,
    first_task_post: int,
    karma_observed: np.ndarray,
    activity: np.ndarray,
    end_ms: int,
) -> TaskResult:
    n = plan.n
    hour = (plan.created_ms // HOUR_MS) % 24
    weekday = ((plan.created_ms // DAY_MS) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    karma = karma_observed[plan.requester]
    covariates = {
        "has_code": plan.has_code.astype(float),
        "log_words": np.log(plan.n_words.astype(float)),
        "keyword_density": plan.n_keywords / plan.n_words,
        "log1p_karma": np.log1p(np.maximum(karma, 0).astype(float)),
        "log1p_activity": np.log1p(activity[plan.requester].astype(float)),
    }
    z = {name: _standardise(values) for name, values in covariates.items()}
    treat_linear = sum(TREATMENT_COEFFICIENTS[k] * z[k] for k in CONFOUNDERS)
    a0 = _calibrate_intercept(treat_linear, config.treated_share)
    propensity = expit(a0 + treat_linear)
    treated = rng.random(n) < propensity

    submolt_effect = rng.normal(0.0, SUBMOLT_EFFECT_SD, size=int(plan.submolt.max(initial=0)) + 1)
    prognostic = (HOUR_AMPLITUDE * np.cos(2 * np.pi * (hour - 14) / 24) + WEEKEND_EFFECT * (weekday >= 5)
                  + submolt_effect[plan.submolt])
    outcome_linear = sum(OUTCOME_COEFFICIENTS[k] * z[k] for k in CONFOUNDERS) + prognostic
    b0 = _calibrate_intercept(outcome_linear, BASELINE_SUCCESS)
    eta0 = b0 + outcome_linear
    eta1 = eta0 + config.cooperation_effect
    p0, p1 = expit(eta0), expit(eta1)
    eta = np.where(treated, eta1, eta0)
    resolved = rng.random(n) < expit(eta)
    quality = expit(eta + rng.normal(0.0, config.quality_noise, size=n))

    # Contributors: one for single-agent work, 2..max for multi-agent work; distinct, never the requester.
    extra = config.max_contributors - 2
    n_contributors = np.where(treated, 2 + rng.binomial(extra, 0.25, size=n), 1)
    contributor_task, contributor = _distinct_contributors(rng, config, population, plan.requester, n_contributors)
    per_contributor = 1 + rng.poisson(0.6, size=contributor.size)
    task = np.repeat(contributor_task, per_contributor)
    author = np.repeat(contributor, per_contributor)
    order = np.lexsort((rng.random(task.size), task))
    task, author = task[order], author[order]
    start = segment_starts(task)
    pos = np.arange(task.size) - start
    gaps = rng.exponential(2 * HOUR_MS, size=task.size)
    running = np.cumsum(gaps)
    offset = running - (running[start] - gaps[start])
    created = strictly_increasing_within(later(plan.created_ms[task], offset, end_ms - 3 * HOUR_MS), start, 1000)
    parent = np.full(task.size, -1, dtype=np.int64)
    for _ in range(3):
        idx = np.flatnonzero((pos > 0) & (parent < 0) & (rng.random(task.size) < 0.5))
        pick = start[idx] + np.floor(rng.random(idx.size) * pos[idx]).astype(np.int64)
        ok = author[pick] != author[idx]
        parent[idx[ok]] = pick[ok]
    last = np.zeros(n, dtype=np.int64)
    np.maximum.at(last, task, created)
    resolved_ms = later(last, rng.exponential(3 * HOUR_MS, size=n), end_ms - 1000)

    batch = CommentBatch(
        post=(first_task_post + task).astype(np.int32),
        parent=parent,
        author=author.astype(np.int32),
        created_ms=created,
        depth=depth_of(parent),
        content=text.random_text(rng, text.word_counts(rng, task.size, 25.0), tech_share=0.3),
        voted=False,
    )
    att_success = float((p1 - p0)[treated].mean())
    q1, q0 = _mean_quality(eta1, config.quality_noise), _mean_quality(eta0, config.quality_noise)
    att_quality = float((q1 - q0)[treated].mean())
    y = resolved.astype(float)
    n_t, n_c = int(treated.sum()), int((~treated).sum())
    naive = float(y[treated].mean() - y[~treated].mean())
    naive_se = float(np.sqrt(y[treated].var(ddof=1) / n_t + y[~treated].var(ddof=1) / n_c))
    naive_quality = float(quality[treated].mean() - quality[~treated].mean())
    summary = {
        "n_tasks": n,
        "n_treated": n_t,
        "n_control": n_c,
        "treatment": "multi-agent work: 2..max_contributors distinct contributors besides the requester "
                     "comment in the task thread before resolution; control: exactly one",
        "tau_logit": config.cooperation_effect,
        "att_success": att_success,
        "att_quality": att_quality,
        "naive_diff_success": naive,
        "naive_diff_success_se": naive_se,
        "naive_diff_quality": naive_quality,
        "success_rate": float(y.mean()),
        "success_rate_treated": float(y[treated].mean()),
        "success_rate_control": float(y[~treated].mean()),
        "confounders": list(CONFOUNDERS),
        "prognostic_only": ["hour", "weekday", "submolt"],
        "treatment_coefficients": TREATMENT_COEFFICIENTS,
        "outcome_coefficients": OUTCOME_COEFFICIENTS,
        "treatment_intercept": float(a0),
        "outcome_intercept": float(b0),
        "hour_amplitude": HOUR_AMPLITUDE,
        "weekend_effect": WEEKEND_EFFECT,
        "quality_noise": config.quality_noise,
        "covariate_definitions": {
            "has_code": "the seed post's content contains a code span (```)",
            "log_words": "log of the number of words of prose in the seed post (the code span excluded)",
            "keyword_density": "technical keywords / words of prose in the seed post (keywords listed below)",
            "log1p_karma": "log1p of the requester's karma as last observed in the drop(s)",
            "log1p_activity": "log1p of the requester's posts plus comments outside task threads",
            "standardised": "each confounder enters the models as a z-score over all tasks",
        },
        "technical_keywords": list(text.TECH_KEYWORDS),
    }
    truth = {
        "group": np.where(treated, "multi", "single"),
        "treated": treated,
        "n_contributors": n_contributors,
        "propensity": propensity,
        "p0": p0,
        "p1": p1,
        "expected_quality0": q0,
        "expected_quality1": q1,
        "resolved": resolved,
        "quality": quality,
        "hour": hour,
        "weekday": weekday,
        "n_words": plan.n_words,
        "n_keywords": plan.n_keywords,
        "requester_karma": karma,
        "requester_activity": activity[plan.requester],
        **{name: values for name, values in covariates.items()},
    }
    table = {"resolved": resolved, "resolved_ms": np.where(resolved, resolved_ms, -1), "quality": quality}
    return TaskResult(batch, table, truth, summary)


def _distinct_contributors(rng, config, population: Population, requester: np.ndarray, counts: np.ndarray):
    """For each task, ``counts[i]`` distinct active agents other than its requester, in proportion to the replies
    they write."""
    active = population.settled  # agents who join at a planted change take no part in tasks
    # Helpers are agents who reply: in proportion to the replies they write.
    reply_share = np.array([r.reply_share for r in config.roles] + [0.0])[population.role]
    weight = (population.comment_rate * reply_share)[active] ** 2
    n_agents = population.n
    draws = 3 * counts + 4
    task = np.repeat(np.arange(counts.size), draws)
    agent = active[weighted_draw(rng, weight, task.size)]
    key = task.astype(np.int64) * n_agents + agent
    _, first = np.unique(key, return_index=True)
    keep = np.zeros(key.size, dtype=bool)
    keep[first] = True
    keep &= agent != requester[task]
    task, agent = task[keep], agent[keep]
    rank = np.arange(task.size) - np.searchsorted(task, task, side="left")
    take = rank < counts[task]
    task, agent = task[take], agent[take]
    got = np.bincount(task, minlength=counts.size)
    short = np.flatnonzero(got < counts)
    extra_task, extra_agent = [task], [agent]
    for i in short:  # rare: only when the most active agents keep being drawn twice
        free = np.ones(n_agents, dtype=bool)
        free[agent[task == i]] = False
        free[requester[i]] = False
        pool = active[free[active] & (weight > 0)]
        if pool.size < counts[i] - got[i]:
            pool = active[free[active]]
        picks = pool[rng.permutation(pool.size)[: counts[i] - got[i]]]
        extra_task.append(np.full(picks.size, i))
        extra_agent.append(picks)
    task, agent = np.concatenate(extra_task), np.concatenate(extra_agent)
    order = np.argsort(task, kind="stable")
    return task[order], agent[order]
