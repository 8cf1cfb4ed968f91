"""What every estimator shares (lifelines' and scikit-learn's habits): a repr of its choices, a clear error when a
result is asked of an unfitted model, and JSON of its results.

An estimator sets its model choices in ``__init__``, learns from data in ``fit`` (which returns ``self``) and
exposes what it learned as attributes ending in ``_``; ``summary`` is a DataFrame, ``print_summary`` prints it,
``to_dict`` is JSON-ready. A subclass names the attribute ``fit`` always sets (``_fitted_attribute``).
"""

from __future__ import annotations

import inspect
import json

__all__ = ["Estimator", "NotFittedError"]


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
