"""What every estimator shares (lifelines' and scikit-learn's habits): a repr of its choices, a clear error when a
result is asked of an unfitted model, and JSON of its results.

An estimator sets its model choices in ``__init__``, learns from data in ``fit`` (which returns ``self``) and
exposes what it learned as attributes ending in ``_``; ``summary`` is a DataFrame, ``print_summary`` prints it,
``to_dict`` is JSON-ready. A subclass names the attribute ``fit`` always sets (``_fitted_attribute``).
"""

from __future__ import annotations

import inspect
import json
import math
from datetime import date

import numpy as np

__all__ = ["Estimator", "NotFittedError", "json_ready"]


def json_ready(value):
    """``value`` as plain JSON: numpy scalars and arrays as Python numbers and lists, NaN and infinities as None,
    dates and timestamps as ISO text, mapping keys as text.

    >>> json_ready({"n": np.int64(3), "alpha": np.float64("nan"), 1: (np.bool_(True), np.array([0.5]))})
    {'n': 3, 'alpha': None, '1': [True, [0.5]]}
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, date):
        return value.isoformat()
    return value


class NotFittedError(RuntimeError):
    """A result was asked of an estimator that has not been fitted (call ``fit`` first)."""


class Estimator:
    _fitted_attribute: str = ""

    @property
    def fitted(self) -> bool:
        return hasattr(self, self._fitted_attribute)

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(...) first")

    def get_params(self) -> dict:
        """The model choices given to ``__init__``, by name."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names if hasattr(self, name)}

    def to_json(self, **kwargs) -> str:
        """``to_dict()`` as JSON text."""
        return json.dumps(self.to_dict(), **kwargs)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                          if not callable(v) and not k.startswith("_"))
        return f"{type(self).__name__}({shown}){'' if self.fitted else ' (not fitted)'}"
