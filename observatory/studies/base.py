"""What every study's result shares: ``to_dict()`` (JSON-ready), ``summary`` (a DataFrame, one row per quantity),
``print_summary()`` and ``str(result)`` (the text a reader wants), as the estimators have them."""

from __future__ import annotations

import pandas as pd

from observatory.estimators.base import json_ready

__all__ = ["StudyResult"]


def _flat(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out: dict = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


class StudyResult:
    """A subclass implements ``to_dict`` (the numbers the study wrote) and ``_text`` (how they read)."""

    def to_dict(self) -> dict:
        raise NotImplementedError

    def _text(self) -> str:
        raise NotImplementedError

    @property
    def summary(self) -> pd.DataFrame:
        """One row per quantity of ``to_dict()`` (nested keys joined by dots; lists and tables as JSON values)."""
        flat = _flat(json_ready(self.to_dict()))
        return pd.DataFrame({"quantity": list(flat), "value": pd.Series(list(flat.values()), dtype=object)})

    def print_summary(self) -> None:
        print(self._text())

    def __str__(self) -> str:
        return self._text()
