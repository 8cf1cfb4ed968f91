"""Estimators: a DataFrame in, a fitted object out; no database and no files.

Each is shaped like lifelines' fitters and scikit-learn's estimators (:class:`~observatory.estimators.base.Estimator`):
model choices in ``__init__``, column names and data in ``fit`` (which returns the estimator), what it learned in
attributes ending in ``_``, ``summary`` a DataFrame, ``print_summary()`` and ``to_dict()``.

========================  =============================================================================
``ExposureHazardModel``   Cox model of adoption on a counting-process exposure panel (:mod:`.cox`)
``ExposureCurve``         P(adopt at the k-th exposure), its curvature test (:mod:`.exposure_curve`)
``PropensityMatcher``     propensity-score matching with the effect's interval (:mod:`.matching`)
``PowerLawFit``           power law with xmin, goodness of fit and alternatives (:mod:`.powerlaw`)
``RoleClustering``        k-means roles with the k chosen in the open (:mod:`.roles`)
``ShiftDetector``         shifts between consecutive windows of a series, at a family-wise level (:mod:`.change`)
========================  =============================================================================
"""

from observatory import _lazy

_EXPORTS = {
    "Estimator": "base", "NotFittedError": "base", "json_ready": "base",
    "ExposureHazardModel": "cox", "ConvergenceError": "cox", "simulate_exposure_panel": "cox",
    "ExposureCurve": "exposure_curve", "exposure_pairs_from_panel": "exposure_curve",
    "saturation_verdict": "exposure_curve",
    "PropensityMatcher": "matching",
    "PowerLawFit": "powerlaw",
    "RoleClustering": "roles",
    "ShiftDetector": "change", "holm": "change",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
