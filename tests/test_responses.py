"""Real Moltbook data as researchers hold it: raw API responses, archivers' NDJSON, the public archive's Parquet.

The fixture `tests/fixtures/scrape/` is a small scrape written by hand from the API's documented responses, in the
layout scrapers save (`data/posts/<id>.json`, `data/agents/<name>.json`, `data/submolts/<name>.json`, a submolt
list, an archiver's `posts-YYYYMMDD.ndjson.zst`): a reply tree four deep, a deleted author, both API generations,
spam, prompt-injection text, a truncated download. Every expected row below is worked out by hand from those files.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from observatory.ingest.load import discover_drop, ingest_drop

from .test_ingest import query

UTC = timezone.utc
FIXTURE = Path(__file__).parent / "fixtures" / "scrape"


def uid(kind: str, n: int) -> str:
    """The fixture's ids: agents a1.., comments c1.., as full UUID-shaped strings."""
    return f"{kind}0000000-0000-4000-8000-0000000000{kind}{n}"


NOVA, ECHO, KAI, ZED = (uid("a", i) for i in (1, 2, 3, 4))
P1, P2, P3, P4, P5 = ("1a0c9e2f-0000-4000-8000-000000000001", "2b0d1f30-0000-4000-8000-000000000002",
                      "3c0e2041-0000-4000-8000-000000000003", "4d0f3152-0000-4000-8000-000000000004",
                      "5e104263-0000-4000-8000-000000000005")


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture
def scrape(tmp_path) -> Path:
    """The fixture scrape, with the archiver's NDJSON compressed as archivers write it (.ndjson.zst)."""
    root = tmp_path / "scrape"
    shutil.copytree(FIXTURE, root)
    plain = root / "archive" / "posts-20260202.ndjson"
    with pa.output_stream(str(plain) + ".zst", compression="zstd") as out:
        out.write(plain.read_bytes())
    plain.unlink()
    return root


@pytest.fixture
def ingested(scrape, tmp_path):
    db = tmp_path / "obs.duckdb"
    return scrape, db, ingest_drop(scrape, db)


def test_every_response_file_is_found_by_its_folder(scrape):
    files, ignored = discover_drop(scrape)
    assert ignored == []
    assert sorted((f.relative, f.entity_name, f.format, f.compression) for f in files) == [
        ("archive/posts-20260202.ndjson.zst", "posts", "jsonl", "zstd"),
        ("data/agents/NovaMind.json", "agents", "json", None),
        (f"data/posts/{P1}.json", "posts", "json", None),
        (f"data/posts/{P2}.json", "posts", "json", None),
        (f"data/posts/{P3}.json", "posts", "json", None),
        ("data/posts/9f000000-0000-4000-8000-000000000009.json", "posts", "json", None),
        ("data/submolts.json", "submolts", "json", None),
        ("data/submolts/general.json", "submolts", "json", None),
    ]
    # Pointed at the posts folder itself, the folder's name still names the entity.
    files, _ = discover_drop(scrape / "data" / "posts")
    assert {f.entity_name for f in files} == {"posts"} and len(files) == 4


def test_comment_trees_flatten_with_parents_depths_and_posts(ingested):
    _, db, _ = ingested
    rows = query(db, "SELECT id, post_id, parent_id, author_id, author_deleted, depth, created_at, upvotes "
                     "FROM comments ORDER BY id")
    assert rows == [
        # The tree of P1, four deep; c2's author object has no author_id beside it, c5's author is null.
        (uid("c", 1), P1, None, ECHO, False, 0, ts("2026-01-30T19:02:11.120455Z"), 3),
        # c2 is also in NovaMind's profile (recentComments, observed later): its newer upvotes win, while the
        # parent and depth that the list item does not show stay the tree's.
        (uid("c", 2), P1, uid("c", 1), NOVA, False, 1, ts("2026-01-30T19:15:40.000001Z"), 1),
        (uid("c", 3), P1, uid("c", 2), ECHO, False, 2, ts("2026-01-30T19:30:00Z"), 1),
        (uid("c", 4), P1, uid("c", 3), ZED, False, 3, ts("2026-01-30T20:01:09.5Z"), 0),
        (uid("c", 5), P1, None, None, True, 0, ts("2026-01-30T21:00:00Z"), 0),
        # P3's tree: c7 below it has an impossible timestamp and is quarantined.
        (uid("c", 6), P3, None, ECHO, False, 0, ts("2026-02-01T00:10:00Z"), 6),
        # The archiver's comment envelopes: post and depth from the envelope, epoch seconds for c9.
        (uid("c", 8), P5, None, NOVA, False, 0, ts("2026-02-01T15:30:00Z"), 1),
        (uid("c", 9), P5, uid("c", 8), KAI, False, 1, ts("2026-02-01T16:00:00Z"), 0),
    ]
    paths = dict(query(db, "SELECT id, source_path FROM comments"))
    assert paths[uid("c", 4)] == "$.comments[0].replies[0].replies[0].replies[0]"
    assert paths[uid("c", 2)] == "$.recentComments[0]"  # the copy observed last
    assert paths[uid("c", 9)] == "$.comment"


def test_posts_from_details_lists_profiles_and_archives(ingested):
    _, db, _ = ingested
    rows = query(db, "SELECT id, submolt, author_id, author_deleted, upvotes, score, comment_count, is_spam, type, "
                     "verification_status, copies FROM posts ORDER BY id")
    assert rows == [
        # Detail at 01-31 (14 up) and the profile's recent post at 02-01 (20 up): the later copy wins; its author
        # is the profile's agent.
        (P1, "general", NOVA, False, 20, 18, 5, None, None, None, 2),
        # The later API generation: author_id, score, type, spam flag and verification status.
        (P2, "tools", KAI, False, 3, 3, 0, True, "link", "verified", 1),
        # A deleted account: the post keeps its place (and its comments) without an author.
        (P3, "general", None, True, 41, 36, 2, None, None, None, 1),
        # Only seen in the general submolt's response: it belongs to that submolt.
        (P4, "general", ECHO, False, 7, 7, 0, None, None, None, 1),
        (P5, "tools", ZED, False, 2, 2, 2, None, None, None, 1),
    ]


def test_agents_merge_profiles_and_embedded_authors(ingested):
    _, db, _ = ingested
    rows = query(db, "SELECT id, name, karma, created_at, is_claimed, follower_count, owner_x_handle, last_seen_at, "
                     "copies, complete_copies FROM agents ORDER BY id")
    assert rows == [
        # The profile (02-01 12:00) is the latest and only complete copy; the post's author object (01-31) and the
        # submolt's creator (02-01 09:00) are older partial observations.
        (NOVA, "NovaMind", 150, ts("2026-01-29T08:00:00Z"), True, 10, "nova_owner", ts("2026-02-01T11:58:04.456Z"),
         4, 1),
        # Only ever embedded: its latest karma (P3's tree, 02-01 06:00) over the older one (P1's, 01-31); when it
        # registered is unknown.
        (ECHO, "EchoAgent", 55, None, None, 3, None, None, 3, 0),
        # The later generation's camelCase author object.
        (KAI, "KaiBot", 242, ts("2026-02-08T20:20:59.814Z"), True, 12, None, ts("2026-02-26T01:50:00Z"), 2, 0),
        (ZED, "Zed", None, None, None, None, None, None, 1, 0),
    ]


def test_submolts_from_responses_lists_and_posts(ingested):
    _, db, _ = ingested
    rows = query(db, "SELECT name, id, display_name, subscriber_count, owner, owner_id, created_at, listed "
                     "FROM submolts ORDER BY name")
    assert rows == [
        ("crypto", None, None, None, None, None, None, True),  # a name in the submolt list
        # The submolt's response (500 subscribers, 02-01) and the list's later count (480, 02-03).
        ("general", "5b000000-0000-4000-8000-00000000000a", "General", 480, "NovaMind", NOVA,
         ts("2026-01-27T00:00:00Z"), True),
        ("tools", "5b000000-0000-4000-8000-00000000000b", "Tools", 75, None, None, None, True),
    ]


def test_bad_documents_and_records_are_quarantined_with_file_line_and_place(ingested):
    scrape, db, report = ingested
    rows = query(db, "SELECT file, line, entity, reason, field, detail, path FROM quarantine ORDER BY file, line")
    assert rows == [
        (str(scrape / "archive" / "posts-20260202.ndjson.zst"), 4, "posts", "not_json", None,
         "not JSON: Unterminated string starting at: line 1 column 65 (char 64)", None),
        (str(scrape / "data" / "posts" / f"{P3}.json"), 1, "comments", "bad_timestamp", "created_at", '"yesterday"',
         "$.comments[0].replies[0]"),
        (str(scrape / "data" / "posts" / "9f000000-0000-4000-8000-000000000009.json"), 1, "posts", "not_json", None,
         "not JSON: Unterminated string starting at: line 5 column 14 (char 96)", None),
    ]
    # The quarantined comment's raw text is the comment as it stood in the tree (without its replies).
    raw = query(db, "SELECT raw FROM quarantine WHERE reason = 'bad_timestamp'")[0][0]
    assert json.loads(raw)["id"] == uid("c", 7) and "replies" not in json.loads(raw)
    assert report.reasons == {"bad_timestamp": 1, "not_json": 2}
    assert report.rows_read == report.rows_loaded + report.rows_quarantined


def test_reingesting_a_scrape_changes_nothing_and_a_later_profile_wins(ingested, tmp_path):
    scrape, db, _ = ingested
    tables = ["raw_agents", "raw_posts", "raw_comments", "raw_submolts", "quarantine_rows", "ingest_log"]
    before = {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    again = ingest_drop(scrape, db)
    assert again.drop_seq is None and all(f.skipped for f in again.files)
    assert {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in tables} == before

    later = tmp_path / "later" / "data" / "agents"
    later.mkdir(parents=True)
    profile = json.loads((FIXTURE / "data" / "agents" / "NovaMind.json").read_text())
    profile["agent"] |= {"karma": 175, "description": None}
    profile |= {"_downloaded_at": "2026-02-05T00:00:00Z", "recentPosts": [], "recentComments": []}
    (later / "NovaMind.json").write_text(json.dumps(profile, indent=2))
    ingest_drop(tmp_path / "later", db)
    # A complete record speaks for every field, its nulls included.
    assert query(db, f"SELECT karma, description FROM agents WHERE id = '{NOVA}'") == [(175, None)]


def test_a_file_that_names_no_entity_is_read_when_it_holds_responses(tmp_path):
    drop = tmp_path / "drop"
    (drop / "2026-02-01").mkdir(parents=True)
    shutil.copy(FIXTURE / "data" / "posts" / f"{P2}.json", drop / "2026-02-01" / "page-1.json")
    (drop / "checkpoint.json").write_text(json.dumps({"offset": 200, "has_more": True}))
    files, ignored = discover_drop(drop)
    assert [(f.relative, f.entity_name) for f in files] == [("2026-02-01/page-1.json", "responses")]
    assert ignored == ["checkpoint.json"]
    db = tmp_path / "obs.duckdb"
    report = ingest_drop(drop, db)
    assert report.records == {"agents": 1, "submolts": 1, "posts": 1}
    assert query(db, "SELECT id, author_id FROM posts") == [(P2, KAI)]
    assert query(db, "SELECT entity FROM ingest_log") == [("responses",)]


def test_a_document_that_is_neither_a_record_nor_a_response_is_quarantined(tmp_path):
    drop = tmp_path / "drop"
    (drop / "responses").mkdir(parents=True)
    lines = [json.dumps({"success": True, "agent": {"id": "a1", "name": "x", "created_at": "2026-02-01T00:00:00Z"}}),
             json.dumps({"success": False, "error": "rate limited"})]
    (drop / "responses" / "mixed.ndjson").write_text("\n".join(lines) + "\n")
    db = tmp_path / "obs.duckdb"
    ingest_drop(drop, db)
    assert query(db, "SELECT id FROM agents") == [("a1",)]
    assert query(db, "SELECT line, entity, reason FROM quarantine") == [(2, "responses", "unrecognised")]


def test_the_public_archive_parquet_layout(tmp_path):
    """The archive's layout (`data/<table>/<date>.parquet`) and flat columns: authors as agent_id/agent_name, a
    deleted author as a null id and an empty name, `score` without up/down votes; other tables are ignored."""
    root = tmp_path / "archive" / "data"

    def write(table: str, rows: list[dict]) -> None:
        (root / table).mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), root / table / "2026-02-01.parquet")

    dump = {"dump_date": "2026-02-01"}
    write("agents", [
        {"id": "a1", "name": "alice", "description": "d", "karma": 10, "follower_count": 1, "following_count": 0,
         "is_claimed": 1, "owner_x_handle": "al", "first_seen_at": "2026-01-30T00:00:00", "last_seen_at":
         "2026-01-31T00:00:00", "created_at": "2026-01-28T00:00:00", "avatar_url": None} | dump,
    ])
    write("posts", [
        {"id": "p1", "agent_id": "a1", "agent_name": "alice", "submolt": "general", "title": "t", "content": "c",
         "url": None, "score": 4, "comment_count": 1, "created_at": "2026-01-29T00:00:00",
         "fetched_at": "2026-01-31T00:00:00", "is_pinned": 0} | dump,
        {"id": "p2", "agent_id": None, "agent_name": "", "submolt": "general", "title": "gone", "content": None,
         "url": None, "score": -1, "comment_count": 0, "created_at": "2026-01-29T01:00:00",
         "fetched_at": "2026-01-31T00:00:00", "is_pinned": 0} | dump,
    ])
    write("comments", [
        {"id": "c1", "post_id": "p2", "agent_id": "a1", "agent_name": "alice", "parent_id": None, "content": "hm",
         "score": 0, "created_at": "2026-01-29T02:00:00", "fetched_at": "2026-01-31T00:00:00"} | dump,
    ])
    write("submolts", [{"name": "general", "display_name": "General", "description": None, "subscriber_count": 5,
                        "post_count": 2, "created_at": "2026-01-27T00:00:00", "first_seen_at": None,
                        "avatar_url": None, "banner_url": None} | dump])
    write("snapshots", [{"id": 1, "timestamp": "2026-02-01T00:00:00", "total_agents": 1, "total_posts": 2,
                         "total_comments": 1, "active_agents_24h": 1, "avg_sentiment": 0.1, "top_words": "[]"}])
    write("word_frequency", [{"word": "hello", "hour": "2026-02-01T00", "count": 3}])
    db = tmp_path / "obs.duckdb"
    report = ingest_drop(tmp_path / "archive", db)
    assert sorted(report.ignored) == ["data/snapshots/2026-02-01.parquet", "data/word_frequency/2026-02-01.parquet"]
    assert report.rows_quarantined == 0
    assert query(db, "SELECT id, author_id, author_deleted, score FROM posts ORDER BY id") == [
        ("p1", "a1", False, 4), ("p2", None, True, -1)]
    assert query(db, "SELECT id, post_id, author_id FROM comments") == [("c1", "p2", "a1")]
    assert query(db, "SELECT id, is_claimed, created_at FROM agents") == [("a1", True, ts("2026-01-28T00:00:00Z"))]
    assert query(db, "SELECT name, subscriber_count, listed FROM submolts") == [("general", 5, True)]


def test_the_whole_pipeline_runs_on_a_real_scrape_and_says_what_it_cannot_estimate(scrape, tmp_path, monkeypatch):
    """The Dagster main job (the scrape's partition -> every table and analysis -> report): no step fails; each
    analysis the data cannot support records why, and the report shows it."""
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.defs.ingest.assets import DROPS
    from pipelines.defs.resources import ObservatoryDuckDB, SparkEngineResource

    monkeypatch.setenv("OBSERVATORY_REPORTS", str(tmp_path / "report"))
    monkeypatch.setenv("OBSERVATORY_LANDING", str(Path(scrape).parent))
    db = tmp_path / "obs.duckdb"
    definitions = defs()
    job = definitions.resolve_job_def("main")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(DROPS.name, [Path(scrape).name])
        result = job.execute_in_process(
            instance=instance, resources={"duckdb": ObservatoryDuckDB(database=str(db)), "spark": SparkEngineResource()}, partition_key=Path(scrape).name)
        assert result.success
    status = query(db, "SELECT step, estimable, reason FROM analysis_status ORDER BY step")
    assert status == [
        ("adoption", False, "0 adoptions after exposure among 7 exposed (agent, item) pairs; the Cox models need at "
                            "least 10"),
        # The scrape's fake system block is a prompt injection of four families: four more (one-agent) cascades.
        ("cascades", False, "11 cascades with 1 distinct sizes; the power-law fit needs at least 50 cascades and 3 "
                            "sizes"),
        ("cooperation", False, "no task threads (no tasks file, and no thread the task detector recognises); "
                               "matching needs at least 2 of each"),
        ("injection", True, None),  # its families are found; no hazard ratio (its note says why)
        ("roles", False, "4 active agents; 2 roles need at least 20 (10 per role)"),
        ("trends", False, "no headline could be estimated in any of the 4 windows of 7 days (each window needs what "
                          "the whole analysis needs)"),
    ]
    findings = json.loads((tmp_path / "report" / "findings.json").read_text())
    assert findings["population"] == {"agents": 4, "active_agents": 4, "posts": 5, "comments": 8}
    assert findings["roles"]["k"] is None and findings["adoption"]["hazard_ratio"] is None
    html = (tmp_path / "report" / "index.html").read_text()
    for step in ("roles", "cascades", "adoption", "cooperation"):
        assert f"Not estimable: {findings['status'][step]['reason']}." in html
    # Agent-written text (a fake system block, an override in a submolt description) is carried inert.
    assert "<|im_start|>" not in html and "<system>" not in html


def test_a_simulated_society_lands_the_same_from_api_responses_as_from_entity_files(tmp_path):
    """`simulate --layout api` writes post details with comment trees, profiles with recent posts and comments, and
    submolt responses; ingested, they give exactly the clean tables of the same society in per-entity files."""
    from observatory.simulate.config import SimulationConfig
    from observatory.simulate.run import simulate

    provenance = {"observed_at", "copies", "complete_copies", "drop_seq", "source_file", "source_line", "source_path"}

    def checksums(db: Path) -> dict:
        sums = {}
        for table in ("agents", "submolts", "posts", "comments", "votes", "tasks"):
            columns = [r[0] for r in query(db, f"DESCRIBE {table}") if r[0] not in provenance]
            sums[table] = query(db, f"SELECT count(*), bit_xor(hash({', '.join(columns)})) FROM {table}")[0]
        return sums

    results = {}
    for layout in ("entities", "api"):
        result = simulate(tmp_path / layout, SimulationConfig(n_agents=1_500, seed=5, layout=layout))
        report = ingest_drop(tmp_path / layout, tmp_path / f"{layout}.duckdb")
        assert report.rows_quarantined == 0
        results[layout] = (result, checksums(tmp_path / f"{layout}.duckdb"))
    entities, api = results["entities"], results["api"]
    assert api[1] == entities[1]
    assert {t: n for t, (n, _) in api[1].items()} == entities[0].counts
    files = api[0].truth["layout"]["response_files"]
    assert files == {"posts": entities[0].counts["posts"], "agents": 1_500, "submolts": entities[0].counts["submolts"]}
    some_post = next((tmp_path / "api" / "posts").glob("*.json"))
    document = json.loads(some_post.read_text())
    assert set(document) == {"success", "post", "comments", "_downloaded_at", "_endpoint"}
    assert some_post.read_text().startswith("{\n  ")  # pretty-printed, as scrapers save responses


def test_compressed_arrays_and_large_responses_land_the_same(tmp_path, monkeypatch):
    """A pretty-printed response gzipped, the same responses as a JSON array, and a response larger than the
    small-file limit (read on its own, not grouped) give the same posts and comments."""
    import gzip

    import observatory.ingest.load as ingest_module

    details = [json.loads((FIXTURE / "data" / "posts" / f"{p}.json").read_text()) for p in (P1, P3)]
    expected = None
    for layout in ("gzip", "array", "large"):
        drop = tmp_path / layout / "posts"
        drop.mkdir(parents=True)
        if layout == "gzip":
            for d in details:
                (drop / f"{d['post']['id']}.json.gz").write_bytes(gzip.compress(json.dumps(d, indent=2).encode()))
        elif layout == "array":
            (drop / "page.json").write_text(json.dumps(details, indent=2))
        else:
            monkeypatch.setattr(ingest_module, "SMALL_FILE_BYTES", 64)
            for d in details:
                (drop / f"{d['post']['id']}.json").write_text(json.dumps(d, indent=2))
        db = tmp_path / f"{layout}.duckdb"
        report = ingest_drop(tmp_path / layout, db)
        monkeypatch.setattr(ingest_module, "SMALL_FILE_BYTES", 4 << 20)
        rows = (query(db, "SELECT id, author_id, author_deleted FROM posts ORDER BY id"),
                query(db, "SELECT id, post_id, parent_id, depth FROM comments ORDER BY id"),
                report.reasons)
        assert expected is None or rows == expected, layout
        expected = rows
    assert expected[0] == [(P1, NOVA, False), (P3, None, True)]
    assert len(expected[1]) == 6 and expected[2] == {"bad_timestamp": 1}
