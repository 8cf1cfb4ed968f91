"""The report: :mod:`.findings` gathers every analysis's numbers (findings.json), :mod:`.html` writes the
self-contained HTML report from ``templates/`` and the exported tables, :mod:`.charts` draws its figures."""

from observatory import _lazy

_EXPORTS = {"FINDINGS_KEYS": "findings", "collect_findings": "findings", "planted_truth": "findings",
            "create_researcher_views": "findings", "write_report": "html", "export_tables": "html"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
