"""A sensor on the landing folder: each new (or changed) drop folder is ingested once."""

import json

import dagster as dg

from pipelines.defs.ingest.assets import _landing_drops
from pipelines.defs.jobs import ingest_job


def _fingerprint(drop) -> str:
    files = sorted(p for p in drop.rglob("*") if p.is_file())
    return f"{len(files)}:{sum(p.stat().st_size for p in files)}:{max((p.stat().st_mtime_ns for p in files), default=0)}"


@dg.sensor(job=ingest_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def landing_folder_sensor(context: dg.SensorEvaluationContext):
    """Request an ingest run for every drop folder that is new or changed since the last evaluation.

    The cursor remembers each folder's fingerprint (file count, bytes, newest mtime). Ingest is idempotent by
    content hash, so a folder still being written and requested twice costs a run, never a duplicate row.
    """
    seen = json.loads(context.cursor) if context.cursor else {}
    for drop in _landing_drops():
        fingerprint = _fingerprint(drop)
        if seen.get(drop.name) == fingerprint:
            continue
        seen[drop.name] = fingerprint
        yield dg.RunRequest(
            run_key=f"{drop.name}:{fingerprint}",
            run_config={"ops": {"raw_tables": {"config": {"drops": [str(drop)]}}}},
            tags={"drop": drop.name},
        )
    context.update_cursor(json.dumps(seen, sort_keys=True))
