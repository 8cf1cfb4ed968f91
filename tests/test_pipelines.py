"""The Dagster definitions load, and the ingest assets materialise against a DuckDB file in a temporary instance."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from observatory import _db
from pipelines.definitions import defs
from pipelines.defs.ingest import assets as ingest_assets
from pipelines.defs.ingest import checks as ingest_checks
from pipelines.defs.ingest.sensors import landing_folder_sensor
from pipelines.defs.population.assets import agent_activity

from .test_ingest import AGENTS, COMMENTS_API, POSTS_API, write_jsonl, write_lines


@pytest.fixture(scope="module")
def definitions():
    return defs()


def test_definitions_load_with_jobs_schedule_and_sensor(definitions):
    for job in ("main", "ingest", "refresh"):
        assert definitions.resolve_job_def(job) is not None
    assert definitions.resolve_schedule_def("daily_refresh").cron_schedule == "0 4 * * *"
    assert definitions.resolve_sensor_def("landing_folder_sensor") is not None
    keys = {key.to_user_string() for key in definitions.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw/comments", "staging/comments", "staging/quarantine", "population/agent_activity",
            "landing/simulated_drop", "report/findings"} <= keys


def _drop(tmp_path):
    drop = tmp_path / "landing" / "drop-001"
    write_jsonl(drop / "agents.jsonl", AGENTS)
    write_jsonl(drop / "posts.jsonl", POSTS_API)
    lines = [json.dumps(c).encode() for c in COMMENTS_API] + [b"{broken"]
    write_lines(drop / "comments.jsonl", lines)
    return drop


def test_ingest_assets_materialise_in_a_temporary_instance(tmp_path):
    drop = _drop(tmp_path)
    db = tmp_path / "obs.duckdb"
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [ingest_assets.raw_tables, ingest_assets.staging_views, agent_activity, *ingest_checks.unique_checks,
             ingest_checks.comments_reference_known_posts, ingest_checks.comments_reference_known_agents,
             ingest_checks.quarantine_share],
            resources={"duckdb": DuckDBResource(database=str(db))},
            run_config={"ops": {"raw_tables": {"config": {"drops": [str(drop)]}}}},
            instance=instance,
            selection=dg.AssetSelection.all() - dg.AssetSelection.assets(["landing", "simulated_drop"]),
        )
        assert result.success
        materialised = {m.asset_key.to_user_string(): m.metadata for m in result.get_asset_materialization_events() and
                        [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]}
        assert materialised["raw/comments"]["rows"].value == 3
        assert materialised["staging/comments"]["rows"].value == 3
        assert materialised["staging/quarantine"]["by_reason"].value == {"not_json": 1}
        assert materialised["population/agent_activity"]["active_agents"].value == 3
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        assert all(checks[f"{v}_{c}_unique"].passed for v, c in ingest_checks.UNIQUE_KEYS.items())
        assert checks["comments_reference_known_posts"].passed
        assert checks["quarantine_share"].metadata["quarantined"].value == 1
        assert not checks["quarantine_share"].passed  # 1 of 9 records read is above the 5% warning share

    con = _db.connect(db, read_only=True)
    assert con.execute("SELECT count(*) FROM ingest_log").fetchone()[0] == 3
    con.close()


def test_landing_sensor_requests_each_new_drop_once(tmp_path, monkeypatch):
    monkeypatch.setenv("OBSERVATORY_LANDING", str(tmp_path / "landing"))
    drop = _drop(tmp_path)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        requests = list(landing_folder_sensor(context))
        assert [r.run_config["ops"]["raw_tables"]["config"]["drops"] for r in requests] == [[str(drop)]]
        again = dg.build_sensor_context(instance=instance, cursor=context.cursor)
        assert list(landing_folder_sensor(again)) == []
        write_jsonl(tmp_path / "landing" / "drop-002" / "agents.jsonl", AGENTS)
        later = dg.build_sensor_context(instance=instance, cursor=context.cursor)
        assert [r.tags["drop"] for r in landing_folder_sensor(later)] == ["drop-002"]


def test_proportional_hazards_check_covers_every_term_of_both_models(tmp_path):
    """The report shows the PH test for every term of both Cox models; the check warns on any of them."""
    from pipelines.defs.adoption.checks import proportional_hazards

    db = tmp_path / "obs.duckdb"
    con = _db.connect(db)
    con.execute("CREATE TABLE adoption_cox (model VARCHAR, term VARCHAR, ph_test_p DOUBLE)")
    con.execute("INSERT INTO adoption_cox VALUES ('linear', 'exposures', 0.40), ('linear', 'log_activity', 0.20), "
                "('log1p', 'log1p_exposures', 0.01), ('log1p', 'log_activity', 0.03)")
    con.close()
    result = proportional_hazards(duckdb=DuckDBResource(database=str(db)))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["rejected_terms"].value == ["log1p: log1p_exposures", "log1p: log_activity"]


def test_the_dagster_graph_runs_the_steps_in_observatory_run_s_order(definitions):
    """`observatory.steps` is the one definition of which analysis reads which: the Dagster assets of every step
    must have the assets of each step it runs after among their ancestors (else the two orders could differ)."""
    from observatory.steps import STEPS, ordered
    from pipelines.defs.adoption.assets import ADOPTION_KEYS
    from pipelines.defs.cascades.assets import CASCADE_KEYS, POWERLAW_KEY
    from pipelines.defs.cooperation.assets import COOPERATION_KEYS
    from pipelines.defs.population.assets import AGENT_ACTIVITY
    from pipelines.defs.roles.assets import ROLE_KEYS

    assets = {"agent_activity": {AGENT_ACTIVITY}, "roles": set(ROLE_KEYS.values()),
              "cascades": set(CASCADE_KEYS.values()), "powerlaw": {POWERLAW_KEY},
              "adoption": set(ADOPTION_KEYS.values()), "cooperation": set(COOPERATION_KEYS.values())}
    assert set(assets) == {step.name for step in STEPS}
    graph = definitions.resolve_asset_graph()

    def ancestors(key, seen=None):
        seen = set() if seen is None else seen
        for parent in graph.get(key).parent_keys:
            if parent not in seen:
                seen.add(parent)
                ancestors(parent, seen)
        return seen

    for step in STEPS:
        for key in assets[step.name]:
            above = ancestors(key)
            for before in step.after:
                assert assets[before] & above, f"{key.to_user_string()} does not run after {before}"
    names = [step.name for step in ordered()]
    for step in STEPS:
        assert all(names.index(before) < names.index(step.name) for before in step.after)
    report = dg.AssetKey(["report", "findings"])
    for step in STEPS:
        assert assets[step.name] & (ancestors(report) | set()), f"the report does not wait for {step.name}"
