"""Cascades: items, adoptions, exposures, cascade trees, and the power-law fit of cascade sizes.

The relational work is SQL (`sql/marts/`): `item_mentions` (every use of an item), `adoptions` (first use per agent
and item), `exposures` (the contract's rule, see docs/contract.md), `cascade_edges` (each adoption's parent is the
agent whose post or comment exposed it first), `cascade_nodes` (the trees), `cascades` (per-cascade statistics)
and `items`. :func:`fit_cascade_sizes` fits the size distribution with :class:`observatory.powerlaw.PowerLawFit`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from . import _db, _status

__all__ = ["CascadeConfig", "build_cascades", "cascade_summary", "fit_cascade_sizes"]

TABLES = ("item_mentions", "adoptions", "exposures", "cascade_edges", "cascade_nodes", "cascades", "items")


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
    """

    extract_code_spans: bool = False
    code_span_min_chars: int = 20
    extract_memes: bool = False
    meme_words: int = 5
    meme_min_adopters: int = 5
    meme_max_stopword_share: float = 0.5


def build_cascades(con, config: CascadeConfig | None = None) -> dict[str, int]:
    """(Re)build the cascade tables from the staging views; returns the row count of each."""
    config = config or CascadeConfig()
    _db.configure(con)
    variables = asdict(config)
    # item_mentions carries its fragment item_memes, which yields rows only when extract_memes is set.
    return {name: _db.build_table(con, name, variables) for name in TABLES}


def cascade_summary(con) -> pd.DataFrame:
    """Cascade statistics by item kind: how many cascades, their sizes, depth and structural virality."""
    return con.execute(
        """
        SELECT kind, count(*) AS cascades, sum(size) AS adoptions, avg(size) AS mean_size, max(size) AS max_size,
               avg(depth) AS mean_depth, max(depth) AS max_depth, avg(structural_virality) AS mean_virality
        FROM cascades GROUP BY kind ORDER BY kind
        """
    ).df()


def fit_cascade_sizes(
    con,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    xmin: float | None = None,
    method: str = "powerlaw",
    n_jobs: int | None = None,
    progress=None,
):
    """Fit the cascade-size distribution (`cascades.size`) with :class:`observatory.powerlaw.PowerLawFit`.

    Writes `cascade_powerlaw` (one row: every number of the fit), `cascade_powerlaw_comparisons` (one row per
    alternative) and `cascade_ccdf` (the CCDF of the data and of each fitted distribution, for the report).
    Returns the fitted estimator, or None when there are too few cascades to fit.
    """
    from .powerlaw import PowerLawFit

    sizes = con.execute("SELECT size FROM cascades").fetchnumpy()["size"].astype(float)
    tables = {"cascade_powerlaw": pd.DataFrame(), "cascade_powerlaw_comparisons": pd.DataFrame(),
              "cascade_ccdf": pd.DataFrame()}
    fit = None
    distinct = len(set(sizes.tolist()))
    if len(sizes) < _status.MIN_CASCADES or distinct < _status.MIN_DISTINCT_SIZES:
        _status.record(con, "cascades", f"{len(sizes):,} cascades with {distinct} distinct sizes; the power-law fit "
                       f"needs at least {_status.MIN_CASCADES} cascades and {_status.MIN_DISTINCT_SIZES} sizes")
    else:
        fit = PowerLawFit(discrete=True, xmin=xmin, n_bootstrap=n_bootstrap, seed=seed, method=method,
                          n_jobs=n_jobs, progress=progress).fit(sizes)
        summary = fit.to_dict()
        row = {k: v for k, v in summary.items() if not isinstance(v, (list, dict))}
        row["alpha_ci_lower"], row["alpha_ci_upper"] = summary["alpha_ci"]
        row["ks_p_value_ci_lower"], row["ks_p_value_ci_upper"] = summary["ks_p_value_ci"]
        row["warnings"] = "; ".join(summary["warnings"])
        tables["cascade_powerlaw"] = pd.DataFrame([row])
        comparisons = fit.comparisons_.copy()
        comparisons["parameters"] = comparisons["parameters"].astype(str)
        tables["cascade_powerlaw_comparisons"] = comparisons
        tables["cascade_ccdf"] = fit.ccdf_
        _status.record(con, "cascades")
    for name, frame in tables.items():
        if frame.empty:
            con.execute(f"DROP TABLE IF EXISTS {name}")
            continue
        _db.write_table(con, name, frame)
    return fit
