"""The library stands on its own: no Dagster anywhere in observatory/, and every public name resolves."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import observatory

LIBRARY = Path(observatory.__file__).resolve().parent


def test_no_dagster_import_in_the_library():
    offenders = [
        str(path.relative_to(LIBRARY))
        for path in LIBRARY.rglob("*.py")
        if re.search(r"^\s*(import|from)\s+dagster", path.read_text(), flags=re.M)
    ]
    assert offenders == []
    # Importing every public name pulls in no Dagster module either.
    code = ("import sys, observatory\n"
            "[getattr(observatory, n) for n in observatory.__all__]\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('dagster')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_public_name_resolves():
    for name in observatory.__all__:
        assert getattr(observatory, name) is not None, name


def test_the_two_halves_are_what_their_names_say():
    # Estimators take DataFrames: no module of observatory/estimators/ touches DuckDB, the database or files.
    estimators = LIBRARY / "estimators"
    for path in estimators.glob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(duckdb|observatory\.(db|studies|ingest|report))\b", text, re.M), path
        assert "open(" not in text and "read_text(" not in text and ".to_parquet(" not in text, path
    # Every package's exported names resolve to objects defined below it.
    import observatory.estimators
    import observatory.ingest
    import observatory.report
    import observatory.simulate
    import observatory.studies

    for package in (observatory.estimators, observatory.studies, observatory.ingest, observatory.simulate,
                    observatory.report):
        for name in package.__all__:
            value = getattr(package, name)
            assert getattr(value, "__module__", package.__name__).startswith(package.__name__), (package, name)


def test_the_old_module_paths_still_import_and_say_where_a_name_lives_now():
    import warnings

    from observatory.estimators import ExposureCurve, ExposureHazardModel, PowerLawFit
    from observatory.studies import fit_cascade_sizes, fit_file, run_roles

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from observatory.cascades import fit_cascade_sizes as old_fit
        from observatory.hazards import ExposureCurve as old_curve
        from observatory.hazards import ExposureHazardModel as old_model
        from observatory.powerlaw import PowerLawFit as old_powerlaw
        from observatory.powerlaw import fit_file as old_fit_file
        from observatory.roles import run_roles as old_run_roles
    assert (old_fit, old_curve, old_model, old_powerlaw, old_fit_file, old_run_roles) == (
        fit_cascade_sizes, ExposureCurve, ExposureHazardModel, PowerLawFit, fit_file, run_roles)
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert "observatory.hazards has moved: import ExposureCurve from observatory.estimators.exposure_curve" in messages
    assert "observatory.cascades has moved: import fit_cascade_sizes from observatory.studies.powerlaw" in messages
    import observatory.hazards

    try:
        observatory.hazards.no_such_name
    except AttributeError as error:
        assert "moved to observatory.estimators.cox, observatory.estimators.exposure_curve" in str(error)
    else:
        raise AssertionError("an unknown name of a moved module must raise AttributeError")


def test_simulate_is_the_package_and_the_function(tmp_path):
    import observatory.simulate
    from observatory import simulate

    assert simulate is observatory.simulate  # once the package is imported, the name is the package ...
    result = simulate(tmp_path / "drop", observatory.SimulationConfig(n_agents=1000, seed=1, votes=False))
    assert result.counts["agents"] == 1000  # ... and calling it simulates
