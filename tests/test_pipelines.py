"""The Dagster definitions: one asset per table with dependencies equal to what its SQL reads, drops as
partitions, automation down to the report, metadata by the conventions; materialised in temporary instances."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from observatory import db as _db
from observatory import sqlmodels
from observatory.ingest.load import ingest_drop
from observatory.simulate.config import SimulationConfig
from observatory.simulate.run import simulate
from observatory.steps import STEPS
from pipelines.definitions import defs
from pipelines.defs.ingest.assets import DROPS
from pipelines.defs.ingest.sensors import landing_folder_sensor
from pipelines.defs.resources import ObservatoryDuckDB, SparkEngineResource
from pipelines.tables import key_for

from .test_ingest import AGENTS, COMMENTS_API, POSTS_API, write_jsonl, write_lines

REPORT = dg.AssetKey(["report", "findings"])
SIMULATED = dg.AssetKey(["landing", "simulated_drop"])


@pytest.fixture(scope="module")
def definitions():
    return defs()


@pytest.fixture(scope="module")
def graph(definitions):
    return definitions.resolve_asset_graph()


def test_definitions_load_with_jobs_schedule_and_sensors(definitions):
    for job in ("simulate", "main", "ingest", "refresh"):
        assert definitions.resolve_job_def(job) is not None
    assert definitions.resolve_schedule_def("daily_refresh").cron_schedule == "0 4 * * *"
    assert definitions.resolve_sensor_def("landing_folder_sensor") is not None
    assert definitions.resolve_sensor_def("automation") is not None


def test_every_relation_of_sql_is_an_asset_whose_upstream_is_what_its_sql_reads(graph):
    models = sqlmodels.catalogue()
    assert len(models) >= 30
    for name, model in models.items():
        node = graph.get(key_for(name))
        assert node.parent_keys == {key_for(r) for r in model.reads}, name
    # spot checks against the SQL as written, so that a parser that reads nothing cannot pass
    assert graph.get(key_for("cascade_nodes")).parent_keys == {key_for("cascade_edges")}
    assert graph.get(key_for("stg_agents")).parent_keys == {key_for("raw_agents"), key_for("finished_drops")}
    assert graph.get(key_for("comments")).parent_keys == {key_for("stg_comments")}
    assert key_for("stg_comments_resolved") in graph.get(key_for("stg_comments")).parent_keys
    assert {key_for("agents"), key_for("posts")} <= graph.get(key_for("stg_comments_resolved")).parent_keys
    # the raw tables depend on nothing, the simulated drop least of all
    for e in ("agents", "posts", "comments", "votes", "submolts", "tasks"):
        assert graph.get(dg.AssetKey(["raw", e])).parent_keys == set()


def test_python_result_tables_have_their_own_upstream_and_description(graph):
    seen = set()
    for step in STEPS:
        for table, reads in step.tables.items():
            node = graph.get(key_for(table))
            assert node.parent_keys == {key_for(r) for r in reads}, table
            seen.add(node.description)
    # one description per table, not one per step
    assert len(seen) == sum(len(step.tables) for step in STEPS)
    assert graph.get(key_for("adoption_cox")).parent_keys >= {key_for("agent_roles"), key_for("adoption_panel")}


def test_raw_tables_are_partitioned_by_drop_and_everything_below_follows_automatically(graph):
    raw = [key for key in graph.get_all_asset_keys() if key.path[0] == "raw"]
    assert len(raw) == 9
    for key in raw:
        assert graph.get(key).partitions_def == DROPS
    # The Spark engine's lake reads the landing folder itself and runs only when its job is launched.
    downstream = [key for key in graph.get_all_asset_keys() if key.path[0] not in ("raw", "landing", "spark")]
    assert graph.get(dg.AssetKey(["spark", "lake"])).automation_condition is None
    assert len(downstream) > 40
    for key in downstream:
        node = graph.get(key)
        assert node.partitions_def is None
        assert node.automation_condition is not None, key.to_user_string()
    assert graph.get(REPORT).freshness_policy is not None


def _small_drop(tmp_path, name="drop-001"):
    drop = tmp_path / "landing" / name
    write_jsonl(drop / "agents.jsonl", AGENTS)
    write_jsonl(drop / "posts.jsonl", POSTS_API)
    lines = [json.dumps(c).encode() for c in COMMENTS_API] + [b"{broken"]
    write_lines(drop / "comments.jsonl", lines)
    return drop


def _materialise(definitions, selection, instance, db, partition_key=None, run_config=None):
    assets = [a for a in definitions.assets if isinstance(a, dg.AssetsDefinition)]
    checks = list(definitions.asset_checks or [])
    return dg.materialize(
        [*assets, *checks], resources={"duckdb": ObservatoryDuckDB(database=str(db)), "spark": SparkEngineResource()}, instance=instance,
        selection=selection, partition_key=partition_key, run_config=run_config or {})


def test_ingest_and_staging_materialise_with_row_counts_and_declared_checks(tmp_path, monkeypatch, definitions):
    monkeypatch.setenv("OBSERVATORY_LANDING", str(tmp_path / "landing"))
    _small_drop(tmp_path)
    db = tmp_path / "obs.duckdb"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(DROPS.name, ["drop-001"])
        raw = _materialise(definitions, dg.AssetSelection.key_prefixes("raw"), instance, db, "drop-001")
        assert raw.success
        staging = _materialise(definitions, dg.AssetSelection.key_prefixes("staging")
                               | dg.AssetSelection.assets(key_for("duplicate_texts"), key_for("agent_activity")),
                               instance, db)
        assert staging.success
        events = [e.event_specific_data.materialization
                  for r in (raw, staging) for e in r.get_asset_materialization_events()]
        materialised = {m.asset_key.to_user_string(): m.metadata for m in events}
        # Every materialisation has its row count but the intermediate staging views, which say why instead.
        counted = {k: m for k, m in materialised.items() if not k.startswith("staging/stg_")}
        assert all("dagster/row_count" in m for m in counted.values()), \
            [k for k, m in counted.items() if "dagster/row_count" not in m]
        views = {k: m for k, m in materialised.items() if k.startswith("staging/stg_")}
        assert len(views) >= 10 and all("relation" in m and "dagster/row_count" not in m for m in views.values())
        assert materialised["raw/comments"]["dagster/row_count"].value == 3
        assert materialised["raw/quarantine_rows"]["dagster/row_count"].value == 1
        assert materialised["staging/comments"]["dagster/row_count"].value == 3
        assert materialised["staging/quarantine"]["dagster/row_count"].value == 1
        assert materialised["population/agent_activity"]["dagster/row_count"].value == 3
        assert definitions.resolve_asset_graph().get(key_for("comments")).metadata["dagster/table_name"] == \
            "main.comments"
        schema = materialised["staging/comments"]["dagster/column_schema"].schema
        assert {"id", "post_id", "author_id", "content"} <= {c.name for c in schema.columns}
        checks = {c.check_name: c for r in (raw, staging) for c in r.get_asset_check_evaluations()}
        declared = {t.name for t in sqlmodels.catalogue()["comments"].tests}
        assert declared <= set(checks)
        assert all(checks[name].passed for name in declared)
        assert checks["quarantine_share"].metadata["quarantined"].value == 1
        assert not checks["quarantine_share"].passed  # 1 of 9 records read is above the 5% warning share


def test_a_declared_test_fails_on_a_table_that_breaks_it(tmp_path):
    con = _db.connect(tmp_path / "obs.duckdb")
    con.execute("CREATE TABLE posts (id VARCHAR)")
    con.execute("INSERT INTO posts VALUES ('p1'), ('p2')")
    con.execute("CREATE TABLE comments (id VARCHAR, post_id VARCHAR, created_at TIMESTAMP)")
    con.execute("INSERT INTO comments VALUES ('c1', 'p1', now()), ('c1', 'p9', NULL), ('c2', NULL, now())")
    tests = {t.name: t for t in sqlmodels.catalogue()["comments"].tests}
    assert sqlmodels.check(con, "comments", tests["id_unique"]) == (2, 3)
    assert sqlmodels.check(con, "comments", tests["post_id_not_null"]) == (1, 3)
    assert sqlmodels.check(con, "comments", tests["created_at_not_null"]) == (1, 3)
    assert sqlmodels.check(con, "comments", tests["post_id_references_posts"]) == (1, 3)
    con.close()


def _clean_tables(db) -> dict:
    con = _db.connect(db, read_only=True)
    try:
        return {name: con.execute(f"SELECT * EXCLUDE (drop_seq, source_file) FROM {name} ORDER BY ALL").fetchall()
                if name != "submolts" else con.execute("SELECT * FROM submolts ORDER BY ALL").fetchall()
                for name in _db.CLEAN_TABLES}
    finally:
        con.close()


def test_two_drops_as_two_partitions_equal_one_ingest_of_both(tmp_path, monkeypatch, definitions):
    landing = tmp_path / "landing"
    monkeypatch.setenv("OBSERVATORY_LANDING", str(landing))
    simulate(landing, SimulationConfig(n_agents=1000, seed=5, n_drops=2, bad_rate=0.01))
    drops = sorted(p.name for p in landing.iterdir() if p.is_dir() and p.name.startswith("drop-"))
    assert drops == ["drop-001", "drop-002"]

    reference = tmp_path / "reference.duckdb"
    for name in drops:
        ingest_drop(landing / name, reference)

    db = tmp_path / "obs.duckdb"
    clean = dg.AssetSelection.assets(*(key_for(n) for n in _db.CLEAN_TABLES)).upstream() - \
        dg.AssetSelection.key_prefixes("raw")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(DROPS.name, drops)
        for name in drops:
            assert _materialise(definitions, dg.AssetSelection.key_prefixes("raw"), instance, db, name).success
        assert _materialise(definitions, clean, instance, db).success
        assert _clean_tables(db) == _clean_tables(reference)
        counts = {n: len(rows) for n, rows in _clean_tables(db).items()}
        assert counts["comments"] > 500 and counts["agents"] == 1000

        # Re-ingesting a partition changes nothing; removing one leaves the other's rows alone.
        assert _materialise(definitions, dg.AssetSelection.key_prefixes("raw"), instance, db, "drop-002",
                            {"ops": {"raw_tables": {"config": {"mode": "ingest"}}}}).success
        assert _materialise(definitions, clean, instance, db).success
        assert _clean_tables(db) == _clean_tables(reference)
        assert _materialise(definitions, dg.AssetSelection.key_prefixes("raw"), instance, db, "drop-002",
                            {"ops": {"raw_tables": {"config": {"mode": "remove"}}}}).success
        assert _materialise(definitions, clean, instance, db).success
        only_first = tmp_path / "first.duckdb"
        ingest_drop(landing / "drop-001", only_first)
        assert _clean_tables(db) == _clean_tables(only_first)
        # and replacing it brings it back
        assert _materialise(definitions, dg.AssetSelection.key_prefixes("raw"), instance, db, "drop-002",
                            {"ops": {"raw_tables": {"config": {"mode": "replace"}}}}).success
        assert _materialise(definitions, clean, instance, db).success
        assert _clean_tables(db) == _clean_tables(reference)


def test_landing_sensor_adds_a_partition_and_requests_each_new_drop_once(tmp_path, monkeypatch):
    monkeypatch.setenv("OBSERVATORY_LANDING", str(tmp_path / "landing"))
    _small_drop(tmp_path)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        result = landing_folder_sensor(context)
        assert [r.partition_key for r in result.run_requests] == ["drop-001"]
        assert [list(r.partition_keys) for r in result.dynamic_partitions_requests] == [["drop-001"]]
        instance.add_dynamic_partitions(DROPS.name, ["drop-001"])
        again = dg.build_sensor_context(instance=instance, cursor=context.cursor)
        assert landing_folder_sensor(again).run_requests == []
        write_jsonl(tmp_path / "landing" / "drop-002" / "agents.jsonl", AGENTS)
        later = dg.build_sensor_context(instance=instance, cursor=context.cursor)
        result = landing_folder_sensor(later)
        assert [r.partition_key for r in result.run_requests] == ["drop-002"]
        assert [list(r.partition_keys) for r in result.dynamic_partitions_requests] == [["drop-002"]]


def test_a_new_drop_s_ingest_leads_automation_to_refresh_the_report(tmp_path, monkeypatch, definitions):
    """Evaluate the automation conditions as the daemon does: after the first drop's partition and a full run,
    nothing is requested; after a second drop lands, every table below it is, down to the report."""
    monkeypatch.setenv("OBSERVATORY_LANDING", str(tmp_path / "landing"))
    monkeypatch.setenv("OBSERVATORY_REPORTS", str(tmp_path / "report"))
    _small_drop(tmp_path)
    db = tmp_path / "obs.duckdb"
    # What the main job runs: everything but the simulated drop and the Spark engine's lake (a job of its own).
    everything = dg.AssetSelection.all() - dg.AssetSelection.assets(SIMULATED) - dg.AssetSelection.key_prefixes("spark")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(DROPS.name, ["drop-001"])
        full = _materialise(definitions, everything, instance, db, "drop-001")
        assert full.success
        materialised = {e.event_specific_data.materialization.asset_key: e.event_specific_data.materialization.metadata
                        for e in full.get_asset_materialization_events()}
        assert len(materialised) == len(everything.resolve(definitions.resolve_asset_graph()))
        assert all("dagster/row_count" in m for k, m in materialised.items() if not k.path[-1].startswith("stg_")), \
            [k.to_user_string() for k, m in materialised.items() if "dagster/row_count" not in m]
        first = dg.evaluate_automation_conditions(defs=definitions, instance=instance)
        settled = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=first.cursor)
        assert settled.total_requested == 0

        write_jsonl(tmp_path / "landing" / "drop-002" / "agents.jsonl", AGENTS[:1])
        sensor = landing_folder_sensor(dg.build_sensor_context(instance=instance))
        assert [r.partition_key for r in sensor.run_requests] == ["drop-001", "drop-002"]
        instance.add_dynamic_partitions(DROPS.name, ["drop-002"])
        assert _materialise(definitions, dg.AssetSelection.key_prefixes("raw"), instance, db, "drop-002").success
        after = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=settled.cursor)
        requested = {r.key for r in after.results if r.true_subset.size > 0}
        assert REPORT in requested
        assert key_for("agents") in requested and key_for("stg_agents") in requested
        assert not any(key.path[0] == "raw" for key in requested)


def test_observatory_run_s_order_runs_every_step_after_the_steps_whose_tables_it_reads(graph):
    """`observatory.steps` orders the CLI's `observatory run`; the Dagster graph says which table reads which.
    Wherever a table of one step reads a table of another, the other must come first in the CLI's order."""
    from observatory.steps import ordered

    owner = {key_for(t): step.name for step in STEPS for t in (*step.sql, *step.tables)}
    by_name = {step.name: step for step in STEPS}

    def before(name, seen=None):
        seen = set() if seen is None else seen
        for earlier in by_name[name].after:
            if earlier not in seen:
                seen.add(earlier)
                before(earlier, seen)
        return seen

    crossings = 0
    for key, name in owner.items():
        for parent in graph.get(key).parent_keys:
            if parent in owner and owner[parent] != name:
                crossings += 1
                assert owner[parent] in before(name), f"{key.to_user_string()} reads {parent.to_user_string()}"
    assert crossings >= 5  # roles, powerlaw and adoption read other steps' tables
    names = [step.name for step in ordered()]
    for step in STEPS:
        assert all(names.index(b) < names.index(step.name) for b in step.after)

    def ancestors(key, seen=None):
        seen = set() if seen is None else seen
        for parent in graph.get(key).parent_keys:
            if parent not in seen:
                seen.add(parent)
                ancestors(parent, seen)
        return seen

    above_report = ancestors(REPORT)
    assert set(owner) <= above_report, "the report does not wait for every step's tables"


def test_proportional_hazards_check_covers_every_term_of_both_models(tmp_path):
    """The report shows the PH test for every term of both Cox models; the check warns on any of them."""
    from pipelines.defs.adoption.checks import proportional_hazards

    db = tmp_path / "obs.duckdb"
    con = _db.connect(db)
    con.execute("CREATE TABLE adoption_cox (model VARCHAR, term VARCHAR, ph_test_p DOUBLE)")
    con.execute("INSERT INTO adoption_cox VALUES ('linear', 'exposures', 0.40), ('linear', 'log_activity', 0.20), "
                "('log1p', 'log1p_exposures', 0.01), ('log1p', 'log_activity', 0.03)")
    con.close()
    result = proportional_hazards(duckdb=ObservatoryDuckDB(database=str(db)))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["rejected_terms"].value == ["log1p: log1p_exposures", "log1p: log_activity"]


def test_the_duckdb_resource_sets_up_every_connection(tmp_path, monkeypatch):
    monkeypatch.setenv("OBSERVATORY_MEMORY_LIMIT", "1GB")
    import duckdb

    reference = duckdb.connect()
    default = reference.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    reference.execute("SET memory_limit = '1GB'")
    expected = reference.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert default != expected  # so that the check below can fail
    with ObservatoryDuckDB(database=str(tmp_path / "obs.duckdb")).get_connection() as con:
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == expected
        assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0] is False


def test_dg_check_defs_passes():
    root = Path(__file__).resolve().parents[1]
    dg_cli = Path(sys.executable).parent / "dg"
    env = {**os.environ, "VIRTUAL_ENV": str(Path(sys.prefix))}
    result = subprocess.run([str(dg_cli), "check", "defs"], cwd=root, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_run_configs_have_the_library_settings_and_their_defaults():
    # One default in one place: each study asset's run config has the fields of its step's settings dataclass,
    # with the same defaults (the simulated drop's bad-record rate is the demo's, on purpose).
    import dataclasses

    from pipelines import DEMO_BAD_RATE

    definitions = defs()
    graph = definitions.resolve_asset_graph()
    checked = 0
    for step in STEPS:
        if step.settings is None or not step.tables:
            continue
        asset = graph.get(key_for(next(iter(step.tables)))).assets_def
        fields = asset.op.config_schema.config_type.fields
        expected = {f.name: f.default for f in dataclasses.fields(step.settings)
                    if not (step.name == "cooperation" and f.name.startswith("task_"))}
        assert set(fields) == set(expected), step.name
        for name, value in expected.items():
            assert fields[name].default_value == value if value is not None else not fields[name].is_required
        checked += 1
    assert checked == 6  # roles, powerlaw, adoption, cooperation, injection, trends
    simulated = graph.get(dg.AssetKey(["landing", "simulated_drop"])).assets_def.op.config_schema.config_type.fields
    assert simulated["n_agents"].default_value == SimulationConfig.n_agents
    assert simulated["bad_rate"].default_value == DEMO_BAD_RATE != SimulationConfig.bad_rate
    # What `python -m pipelines run` sends the simulate job is valid for it; an unknown setting is not.
    job = definitions.resolve_job_def("simulate")
    assert dg.validate_run_config(job, {"ops": {"landing__simulated_drop": {"config": {
        "n_agents": 1000, "seed": 3, "bad_rate": 0.01}}}})
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"ops": {"landing__simulated_drop": {"config": {"agents": 1000}}}})


def test_the_executor_is_chosen_by_configuration(monkeypatch):
    from pipelines.definitions import executor

    monkeypatch.delenv("OBSERVATORY_EXECUTOR", raising=False)
    assert executor() is dg.in_process_executor
    monkeypatch.setenv("OBSERVATORY_EXECUTOR", "multiprocess")
    assert executor().name == "multiprocess_one_writer"
    assert defs().resolve_job_def("refresh").executor_def.name == "multiprocess_one_writer"
    monkeypatch.setenv("OBSERVATORY_EXECUTOR", "celery")
    with pytest.raises(ValueError, match="in_process or multiprocess"):
        executor()


def _ingest_job():
    return defs().resolve_job_def("ingest")


def test_the_multiprocess_executor_ingests_a_partition_in_a_process_of_its_own(tmp_path, monkeypatch):
    landing, db = tmp_path / "landing", tmp_path / "obs.duckdb"
    for name, value in (("OBSERVATORY_EXECUTOR", "multiprocess"), ("OBSERVATORY_LANDING", landing),
                        ("OBSERVATORY_DB", db)):
        monkeypatch.setenv(name, str(value))
    simulate(landing / "drop-a", SimulationConfig(n_agents=1000, seed=2, votes=False))
    reference = tmp_path / "reference.duckdb"
    ingest_drop(landing / "drop-a", reference)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(DROPS.name, ["drop-a"])
        with dg.execute_job(dg.reconstructable(_ingest_job), instance=instance,
                            tags={"dagster/partition": "drop-a"}) as result:
            assert result.success
            pids = {record.dagster_event.pid for record in instance.all_logs(result.run_id,
                                                              of_type=dg.DagsterEventType.STEP_START)}
    assert pids and os.getpid() not in pids

    def raw_counts(path):
        con = _db.connect(path, read_only=True)
        try:
            return {e: con.execute(f"SELECT count(*) FROM raw_{e}").fetchone()[0]
                    for e in ("agents", "posts", "comments")}
        finally:
            con.close()

    assert raw_counts(db) == raw_counts(reference) and raw_counts(db)["comments"] > 500
