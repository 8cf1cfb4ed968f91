"""The power-law study: the cascade-size distribution (`cascades.size`) fitted by
:class:`~observatory.estimators.powerlaw.PowerLawFit` into `cascade_powerlaw`, `cascade_powerlaw_comparisons` and
`cascade_ccdf`; and the same fit on a text file of values (`fit_file`, the CLI's `fit-powerlaw`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from observatory import _status, db
from observatory.config import PowerLawConfig, overridden
from observatory.estimators.powerlaw import ALTERNATIVES, PowerLawFit

__all__ = ["fit_cascade_sizes", "fit_file", "read_values"]


def fit_cascade_sizes(con, config: PowerLawConfig | None = None, *, n_jobs: int | None = None, progress=None,
                      alternatives=ALTERNATIVES, **settings):
    """Fit the cascade-size distribution (`cascades.size`) with :class:`observatory.estimators.PowerLawFit`.

    ``config`` holds the settings (:class:`~observatory.config.PowerLawConfig`); any of them may be given as a
    keyword instead (``fit_cascade_sizes(con, n_bootstrap=200)``). Writes `cascade_powerlaw` (one row: every number of the fit), `cascade_powerlaw_comparisons` (one row per
    alternative) and `cascade_ccdf` (the CCDF of the data and of each fitted distribution, for the report).
    ``alternatives`` are the distributions compared with the power law (none: no comparison is written, and alpha
    with its intervals is the same). Returns the fitted estimator, or None when there are too few cascades to fit.
    """
    config = overridden(config, PowerLawConfig, **settings)
    sizes = con.execute("SELECT size FROM cascades").fetchnumpy()["size"].astype(float)
    tables = {"cascade_powerlaw": pd.DataFrame(), "cascade_powerlaw_comparisons": pd.DataFrame(),
              "cascade_ccdf": pd.DataFrame()}
    fit = None
    distinct = len(set(sizes.tolist()))
    if len(sizes) < _status.MIN_CASCADES or distinct < _status.MIN_DISTINCT_SIZES:
        _status.record(con, "cascades", f"{len(sizes):,} cascades with {distinct} distinct sizes; the power-law fit "
                       f"needs at least {_status.MIN_CASCADES} cascades and {_status.MIN_DISTINCT_SIZES} sizes")
    else:
        fit = PowerLawFit(discrete=True, xmin=config.xmin, n_bootstrap=config.n_bootstrap, seed=config.seed,
                          method=config.method, alternatives=alternatives,
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
        db.write_table(con, name, frame)
    return fit


def read_values(path) -> np.ndarray:
    """Numbers from a text file, one per line; blank lines and ``#`` comments are ignored.

    Raises ValueError naming the file and line of the first line that is not a finite number.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    text = pd.Series(lines, dtype=object).str.split("#", n=1).str[0].str.strip().to_numpy(dtype=str)
    line_of = np.flatnonzero(text != "")
    strings = text[line_of]
    try:
        # numpy parses decimal strings with correct rounding, so values survive a round trip through text.
        numbers = strings.astype(float)
        bad = np.flatnonzero(~np.isfinite(numbers))
    except ValueError:
        bad = [next(i for i, s in enumerate(strings.tolist()) if not _is_finite_number(s))]
    if len(bad):
        line = int(line_of[bad[0]])
        raise ValueError(f"{path}, line {line + 1}: not a finite number: {lines[line].strip()!r}")
    return numbers


def _is_finite_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def fit_file(path, discrete=False, xmin=None, n_bootstrap=1000, seed=0, n_jobs=None, progress=None) -> dict:
    """Fit a power law to the numbers in a text file (see `read_values`) and return `PowerLawFit.to_dict()`.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from observatory.studies.powerlaw import fit_file
    >>> sizes = np.random.default_rng(0).zipf(2.5, 1000)
    >>> with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
    ...     _ = handle.write("# cascade sizes\\n" + "\\n".join(map(str, sizes)))
    >>> result = fit_file(handle.name, discrete=True, n_bootstrap=20)
    >>> result["n"], result["xmin"]
    (1000, 1.0)
    """
    values = read_values(path)
    fit = PowerLawFit(discrete=discrete, xmin=xmin, n_bootstrap=n_bootstrap, seed=seed, n_jobs=n_jobs,
                      progress=progress).fit(values)
    return {"source": str(path), **fit.to_dict()}
