"""Sensors: the landing folder (each new or changed drop becomes a partition and is ingested), and declarative
automation (whatever a new drop makes stale is rebuilt, down to the report)."""

import json

import dagster as dg

from pipelines.defs.ingest.assets import DROPS, landing_drops
from pipelines.defs.jobs import ingest_job


def _fingerprint(drop) -> str:
    files = sorted(p for p in drop.rglob("*") if p.is_file())
    return f"{len(files)}:{sum(p.stat().st_size for p in files)}:{max((p.stat().st_mtime_ns for p in files), default=0)}"


@dg.sensor(job=ingest_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def landing_folder_sensor(context: dg.SensorEvaluationContext):
    """Add a partition for every new drop folder and request its ingest; request it again when the folder changes.

    The cursor remembers each folder's fingerprint (file count, bytes, newest mtime). Ingest is idempotent by
    content hash, so a folder still being written and requested twice costs a run, never a duplicate row.
    """
    seen = json.loads(context.cursor) if context.cursor else {}
    known = set(context.instance.get_dynamic_partitions(DROPS.name))
    new_partitions, requests = [], []
    for drop in landing_drops():
        fingerprint = _fingerprint(drop)
        if seen.get(drop.name) == fingerprint:
            continue
        seen[drop.name] = fingerprint
        if drop.name not in known:
            new_partitions.append(drop.name)
        requests.append(dg.RunRequest(run_key=f"{drop.name}:{fingerprint}", partition_key=drop.name,
                                      tags={"drop": drop.name}))
    context.update_cursor(json.dumps(seen, sort_keys=True))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[DROPS.build_add_request(new_partitions)] if new_partitions else [],
    )


# Declarative automation: every asset below the raw tables carries an eager condition (rebuild once what it reads
# was updated); this sensor evaluates them. On by default: it only acts when data changes.
automation = dg.AutomationConditionSensorDefinition(
    "automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30)
