"""Ingest: a drop of files in the interaction-log contract's format (or raw Moltbook API responses) into the raw
tables, bad rows to quarantine with their file, line and field (:mod:`.load`; the API responses' shapes in
:mod:`.responses`)."""

from observatory import _lazy

_EXPORTS = {name: "load" for name in ("IngestError", "IngestReport", "FileReport", "discover_drop", "ingest_drop",
                                      "remove_drop", "drop_seqs", "remove_unfinished_drops")}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
