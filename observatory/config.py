"""Each analysis step's settings and their defaults, in one place.

A study takes its dataclass (``run_roles(con, RolesConfig(k_max=6))``); the Dagster assets' run configuration
(:func:`pipelines.tables.config_from`) and the CLI's options are built from the same fields, so a default is
written once. This module imports nothing heavy: the CLI reads it to print ``--help``.

>>> from dataclasses import replace
>>> replace(PowerLawConfig(), n_bootstrap=200)
PowerLawConfig(n_bootstrap=200, seed=0, method='powerlaw', xmin=None)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["RolesConfig", "CascadeConfig", "PowerLawConfig", "AdoptionConfig", "CooperationConfig", "TrendsConfig",
           "default",
           "overridden"]


@dataclass(frozen=True)
class RolesConfig:
    """The roles study: candidate k from ``k_min`` to ``k_max``; a solution with a cluster smaller than
    ``min_share`` of the agents is degenerate; betweenness is estimated from ``betweenness_sources`` sampled
    sources (None: exact); ``seed`` seeds everything random."""

    k_min: int = 2
    k_max: int = 10
    min_share: float = 0.01
    betweenness_sources: int | None = 256
    seed: int = 0

    def __post_init__(self):
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError(f"need 2 <= k_min <= k_max, got k_min={self.k_min}, k_max={self.k_max}")


@dataclass(frozen=True)
class CascadeConfig:
    """What counts as an item beyond URLs, hashtags and submolt mentions (which are always extracted).

    Parameters
    ----------
    extract_code_spans : also treat fenced code spans as items ("skills"), hashed after collapsing whitespace.
    code_span_min_chars : shortest code span that counts.
    extract_memes : also treat recurring word n-grams as items ("memes").
    meme_words : n-gram length in words.
    meme_min_adopters : distinct agents that must use an n-gram for it to count.
    meme_max_stopword_share : largest share of stop words in a counted n-gram.
    extract_injections : treat prompt injections as items, one per payload family the detector finds
        (`injection:override`, ...; sql/macros/injection_families.sql).
    extract_duplicates : also treat clusters of near-identical texts as items (`duplicate:<fingerprint>`), those
        of `duplicate_texts` with at least `duplicate_min_uses` uses. The clusters, and the accounts flagged as
        coordinated in `agent_activity`, are computed either way.
    duplicate_min_words : shortest normalised text, in words, that can be a duplicate.
    duplicate_min_uses : posts and comments a cluster needs before its texts count as duplicates.
    """

    extract_code_spans: bool = False
    code_span_min_chars: int = 20
    extract_memes: bool = False
    meme_words: int = 5
    meme_min_adopters: int = 5
    meme_max_stopword_share: float = 0.5
    extract_injections: bool = True
    extract_duplicates: bool = False
    duplicate_min_words: int = 5
    duplicate_min_uses: int = 3


@dataclass(frozen=True)
class PowerLawConfig:
    """The power-law fit of cascade sizes: ``n_bootstrap`` goodness-of-fit replicates (0 skips the test),
    ``method`` "powerlaw" (exact MLE) or "plfit" (Clauset's procedure: alpha on a 0.01 grid), ``xmin`` fixed or
    None (estimated by the KS criterion)."""

    n_bootstrap: int = 1000
    seed: int = 0
    method: str = "powerlaw"
    xmin: float | None = None


@dataclass(frozen=True)
class AdoptionConfig:
    """The adoption study: above ``max_rows`` panel rows the non-event rows are case-control sampled (weighted);
    the exposure curve runs to ``max_exposures``; ``seed`` seeds the sampling."""

    max_rows: int | None = 2_000_000
    max_exposures: int = 10
    seed: int = 0


@dataclass(frozen=True)
class CooperationConfig:
    """Settings of the task detector (used only without task annotations) and of the matched comparison:
    ``caliper`` in standard deviations of the propensity logit, matching within submolts (``exact_submolt``) and
    with or without replacement."""

    task_min_comments: int = 4
    task_min_participants: int = 2
    task_min_span_hours: float = 0.5
    task_success_threshold: float = 2 / 3
    caliper: float = 0.2
    exact_submolt: bool = False
    replace: bool = False
    seed: int = 0
    n_bootstrap: int = 2000
    n_permutations: int = 10_000


@dataclass(frozen=True)
class TrendsConfig:
    """Settings of the headlines over time: windows of ``window_days`` from the first observed record, and the
    family-wise ``level`` at which a shift between consecutive windows is flagged (Holm over every comparison)."""

    window_days: float = 7.0
    level: float = 0.05
    seed: int = 0
    n_bootstrap: int = 500


def default(cls, name: str):
    """The default of field ``name`` of the settings dataclass ``cls`` (the CLI's option defaults).

    >>> default(CooperationConfig, "caliper")
    0.2
    """
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.default
    raise AttributeError(f"{cls.__name__} has no field {name!r}")


def overridden(config, cls, **overrides):
    """``config`` (or the defaults of ``cls``) with some fields replaced: what a study does with its keyword
    arguments, so that ``fit_cascade_sizes(con, n_bootstrap=200)`` and
    ``fit_cascade_sizes(con, PowerLawConfig(n_bootstrap=200))`` are the same call.

    >>> overridden(None, AdoptionConfig, seed=3)
    AdoptionConfig(max_rows=2000000, max_exposures=10, seed=3)
    >>> overridden(None, AdoptionConfig, sed=3)
    Traceback (most recent call last):
    ...
    TypeError: AdoptionConfig has no setting 'sed' (its settings: max_rows, max_exposures, seed)
    """
    config = config if config is not None else cls()
    if not isinstance(config, cls):
        raise TypeError(f"expected a {cls.__name__}, got {type(config).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in overrides if k not in names]
    if unknown:
        raise TypeError(f"{cls.__name__} has no setting {unknown[0]!r} (its settings: {', '.join(names)})")
    return dataclasses.replace(config, **overrides) if overrides else config
