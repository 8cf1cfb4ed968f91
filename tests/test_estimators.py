"""One contract for every estimator, looped over all of them as lifelines loops over its fitters: `fit` returns
the estimator; `summary` is a DataFrame; `print_summary` prints; `to_dict` is JSON; an unfitted estimator says so."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from observatory.estimators.base import Estimator, NotFittedError
from observatory.estimators.cox import ExposureHazardModel, simulate_exposure_panel
from observatory.estimators.exposure_curve import ExposureCurve
from observatory.estimators.matching import PropensityMatcher
from observatory.estimators.powerlaw import PowerLawFit
from observatory.estimators.roles import RoleClustering

from .test_hazards import planted_exposure_pairs


def _matching_data():
    rng = np.random.default_rng(3)
    n = 400
    x = rng.normal(size=(n, 2))
    treated = (rng.random(n) < 1 / (1 + np.exp(-(x[:, 0] - 0.5)))).astype(int)
    outcome = (rng.random(n) < 0.4 + 0.1 * treated).astype(float)
    return pd.DataFrame({"t": treated, "a": x[:, 0], "b": x[:, 1], "y": outcome})


def _roles_data():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [6, 6], [0, 6]])
    return pd.DataFrame(np.vstack([rng.normal(c, 1.0, size=(150, 2)) for c in centres]), columns=["x", "y"])


CASES = {
    "PowerLawFit": (lambda: PowerLawFit(discrete=True, n_bootstrap=20, seed=0),
                    lambda m: m.fit((np.random.default_rng(1).pareto(1.5, 800) + 1).round() + 1)),
    "ExposureHazardModel": (lambda: ExposureHazardModel(),
                            lambda m: m.fit(simulate_exposure_panel(n_pairs=300, hazard_ratio=0.6,
                                                                    baseline_hazard=0.05, window=50.0, seed=2),
                                            covariates=["activity"])),
    "ExposureCurve": (lambda: ExposureCurve(max_exposures=5),
                      lambda m: m.fit(planted_exposure_pairs(-2.5, 0.3, -0.02, n_pairs=2000))),
    "PropensityMatcher": (lambda: PropensityMatcher(n_bootstrap=50, n_permutations=0, compare_designs=False),
                          lambda m: m.fit(_matching_data(), treatment="t", covariates=["a", "b"], outcome="y")),
    "RoleClustering": (lambda: RoleClustering(k_range=range(2, 5), seed=0, name_clusters=False),
                       lambda m: m.fit(_roles_data())),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    make, fit = CASES[request.param]
    return request.param, make, fit


def test_every_estimator_shares_the_base(case):
    name, make, _ = case
    assert isinstance(make(), Estimator), name


def test_an_unfitted_estimator_says_so(case):
    name, make, _ = case
    model = make()
    assert "not fitted" in repr(model)
    for call in (lambda: model.summary, model.print_summary, model.to_dict):
        with pytest.raises(NotFittedError, match=f"this {name} is not fitted yet: call fit"):
            call()


def test_fit_returns_the_estimator_with_a_dataframe_summary_and_json(case, capsys):
    name, make, fit = case
    model = make()
    assert fit(model) is model
    assert isinstance(model.summary, pd.DataFrame) and len(model.summary) > 0
    model.print_summary()
    assert len(capsys.readouterr().out.splitlines()) >= 2
    assert json.loads(json.dumps(model.to_dict())) and json.loads(model.to_json())
    assert "not fitted" not in repr(model)


def test_model_choices_and_column_names_are_keywords_after_the_first_argument(case):
    # lifelines' rule: one positional argument to __init__ (the main choice) and to fit (the data); everything
    # else by name, so that a call reads the same whatever the order of the parameters.
    import inspect

    name, make, _ = case
    cls = type(make())
    for method in (cls.__init__, cls.fit):
        parameters = list(inspect.signature(method).parameters.values())[1:]
        positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        assert len(positional) <= 1, (name, method.__name__, positional)


@pytest.mark.parametrize("study", ["roles", "adoption", "cooperation"])
def test_every_study_result_has_the_same_habits(society, study, capsys):
    from observatory.studies.base import StudyResult

    result = society.results[study]
    assert isinstance(result, StudyResult)
    summary = result.summary
    assert isinstance(summary, pd.DataFrame) and list(summary.columns) == ["quantity", "value"]
    assert len(summary) >= 5 and summary["quantity"].is_unique
    json.dumps(result.to_dict())
    result.print_summary()
    assert capsys.readouterr().out == str(result) + "\n" and len(str(result).splitlines()) >= 2
