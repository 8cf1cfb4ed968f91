"""The society simulator: the drops it writes follow the contract, and what it plants is what the truth says.

References, none of them computed by the simulator itself:

* the contract (``/work/shared/contract/interaction-log.md``) for required fields, references and record shapes;
* the exposure rule, re-derived here from the written comments with regular expressions and pandas (an
  independent implementation of item extraction, normalisation and exposure counting);
* the exact discrete power-law pmf ``x^-alpha / zeta(alpha, xmin)`` from ``scipy.special.zeta``;
* lifelines' ``CoxTimeVaryingFitter`` for the planted adoption hazard ratio per exposure;
* scikit-learn's ``KMeans`` and ``adjusted_rand_score`` for the separability of the planted roles;
* statsmodels' ``Logit`` for the planted effect of multi-agent work on the logit of success.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from observatory.simulate.config import SimulationConfig, load_truth
from observatory.simulate.run import simulate
from observatory.simulate.spread import draw_sizes

SMALL = SimulationConfig(n_agents=4_000, seed=11)


# ----------------------------------------------------------------------------------------------------------------
# Reading drops back, independently of the simulator


def _con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def read_api_drop(drop: Path) -> dict[str, pd.DataFrame]:
    """Every entity of an API-shaped JSONL drop as a DataFrame of plain strings and numbers."""
    con = _con()

    def objects(entity: str) -> str:
        if not any((drop / entity).glob("*.jsonl")):
            return "(select null::json as json where false)"  # an entity this drop does not hold
        return f"read_ndjson_objects('{drop.as_posix()}/{entity}/*.jsonl')"

    frames = {
        "agents": con.execute(f"""
            select json->>'id' as id, json->>'name' as name, (json->>'karma')::bigint as karma,
                   json->>'created_at' as created_at, json->>'fetched_at' as fetched_at
            from {objects('agents')}""").df(),
        "submolts": con.execute(f"select json->>'name' as name from {objects('submolts')}").df(),
        "posts": con.execute(f"""
            select json->>'id' as id, json->>'$.submolt.name' as submolt, json->>'$.author.id' as author_id,
                   json->>'$.author.name' as author_name, json->>'title' as title, json->>'content' as content,
                   json->>'url' as url, (json->>'upvotes')::bigint as upvotes,
                   (json->>'downvotes')::bigint as downvotes, (json->>'comment_count')::bigint as comment_count,
                   json->>'created_at' as created_at, json->>'fetched_at' as fetched_at
            from {objects('posts')}""").df(),
        "comments": con.execute(f"""
            select json->>'id' as id, json->>'post_id' as post_id, json->>'parent_id' as parent_id,
                   json_type(json->'author') as author_type,
                   case when json_type(json->'author') = 'VARCHAR' then null else json->>'$.author.id' end
                       as author_id,
                   case when json_type(json->'author') = 'VARCHAR' then json->>'author'
                        else json->>'$.author.name' end as author_name,
                   json->>'content' as content, (json->>'upvotes')::bigint as upvotes,
                   (json->>'downvotes')::bigint as downvotes, (json->>'depth')::bigint as depth,
                   json->>'created_at' as created_at, json->>'fetched_at' as fetched_at
            from {objects('comments')}""").df(),
        "votes": con.execute(f"""
            select json->>'voter_id' as voter_id, json->>'target_type' as target_type,
                   json->>'target_id' as target_id, (json->>'value')::bigint as value,
                   json->>'created_at' as created_at
            from {objects('votes')}""").df(),
        "tasks": con.execute(f"""
            select json->>'id' as id, json->>'post_id' as post_id, json->>'requester_id' as requester_id,
                   json->>'created_at' as created_at, (json->>'resolved')::boolean as resolved,
                   json->>'resolved_at' as resolved_at, (json->>'quality')::double as quality
            from {objects('tasks')}""").df(),
    }
    names = frames["agents"].set_index("name")["id"]
    comments = frames["comments"]
    comments["author_id"] = comments["author_id"].fillna(comments["author_name"].map(names))
    return frames


def ts(values) -> pd.Series:
    return pd.to_datetime(pd.Series(values), format="ISO8601", utc=True)


ITEM_PATTERN = re.compile(r"(https?://[^\s]+)|(?<![\w/])(#\w+)|(?<![\w/])(m/\w+)")


def normalise_url(url: str) -> str:
    # The contract's rule: lower-case host, no tracking query parameters, no trailing slash.
    scheme, rest = url.split("://", 1)
    host, _, path = rest.partition("/")
    path, _, query = path.partition("?")
    kept = [p for p in query.split("&") if p and not p.lower().startswith("utm_")]
    normal = f"{scheme.lower()}://{host.lower()}" + (f"/{path}" if path else "")
    normal = normal.rstrip("/")
    return normal + ("?" + "&".join(kept) if kept else "")


def item_uses(frame: pd.DataFrame, text_column: str) -> pd.DataFrame:
    """(row index, normalised item) for every item in a text column."""
    rows = []
    for index, text in frame[text_column].dropna().items():
        for url, tag, mention in ITEM_PATTERN.findall(text):
            rows.append((index, normalise_url(url) if url else tag.lower() if tag else mention))
    return pd.DataFrame(rows, columns=["row", "item"])


# ----------------------------------------------------------------------------------------------------------------
# Fixtures: each society is simulated once per module


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("small"), SMALL)


@pytest.fixture(scope="module")
def small_data(small):
    return read_api_drop(small.drop)


@pytest.fixture(scope="module")
def default_flat(tmp_path_factory):
    """The default society (20,000 agents), as Parquet archives: fast to read back."""
    return simulate(tmp_path_factory.mktemp("default"), SimulationConfig(fmt="parquet", shape="flat"))


def test_config_rejects_impossible_combinations():
    with pytest.raises(ValueError, match="jsonl only"):
        SimulationConfig(fmt="parquet", shape="api")
    with pytest.raises(ValueError, match="jsonl drops only"):
        SimulationConfig(fmt="csv", shape="flat", bad_rate=0.01)
    with pytest.raises(ValueError, match="at least 50 active"):
        SimulationConfig(n_agents=100)
    with pytest.raises(ValueError, match="fmt"):
        SimulationConfig(fmt="xml")


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path):
    config = SimulationConfig(n_agents=1_500, seed=3, bad_rate=0.01)
    first = _digests(simulate(tmp_path / "a", config).out_dir)
    second = _digests(simulate(tmp_path / "b", config).out_dir)
    other = _digests(simulate(tmp_path / "c", SimulationConfig(n_agents=1_500, seed=4, bad_rate=0.01)).out_dir)
    assert first == second
    assert len(first) >= 8  # six entities, truth.json and the truth tables
    assert first["comments/part-00000.jsonl"] != other["comments/part-00000.jsonl"]
    assert first["truth.json"] != other["truth.json"]


def test_truth_counts_match_what_is_written(small, small_data):
    truth = load_truth(small.drop)
    assert truth == small.truth
    unique = truth["counts"]["unique"]
    for entity, frame in small_data.items():
        assert len(frame) == unique[entity], entity
        assert small.rows_by_drop["."][entity] == unique[entity]
    population = truth["population"]
    assert population["comments"] == len(small_data["comments"])
    assert population["posts"] == len(small_data["posts"])
    authors = pd.concat([small_data["posts"]["author_id"], small_data["comments"]["author_id"]])
    # Every active agent, and only they, wrote something.
    assert authors.nunique() == population["active_agents"] == round(SMALL.active_share * SMALL.n_agents)
    assert sum(population["roles"].values()) == SMALL.n_agents


def test_every_record_satisfies_the_contract(small, small_data):
    agents, posts, comments = small_data["agents"], small_data["posts"], small_data["comments"]
    votes, tasks, submolts = small_data["votes"], small_data["tasks"], small_data["submolts"]
    window_end = ts([small.truth["window"]["end"]])[0]
    # Required fields present, ids and names unique, timestamps parse (ISO-8601 with Z).
    required_fields = ((agents, ["id", "name", "created_at"]), (posts, ["id", "submolt", "author_id", "created_at"]),
                       (comments, ["id", "post_id", "author_name", "created_at"]))
    for frame, required in required_fields:
        assert frame[required].notna().all().all()
        assert frame["id"].is_unique
        assert frame["created_at"].str.endswith("Z").all()
        assert ts(frame["created_at"]).notna().all()
    assert agents["name"].is_unique and submolts["name"].is_unique
    # Some names and texts are hostile (markup, quotes, control characters) and survive the round trip.
    assert agents["name"].str.contains("<script>", regex=False).any()
    assert agents["name"].str.contains('"', regex=False).any()
    # References resolve: submolts, authors (by id, or by name for the SDK's bare-name comments), posts, parents.
    assert posts["submolt"].isin(submolts["name"]).all()
    assert posts["author_id"].isin(agents["id"]).all()
    assert (posts["author_name"] == posts["author_id"].map(agents.set_index("id")["name"])).all()
    name_share = (comments["author_type"] == "VARCHAR").mean()
    assert 0.15 < name_share < 0.25  # ~20% of comments carry the author's name only
    assert comments["author_id"].isin(agents["id"]).all()
    assert comments["post_id"].isin(posts["id"]).all()
    by_id = comments.set_index("id")
    replies = comments[comments["parent_id"].notna()]
    assert replies["parent_id"].isin(comments["id"]).all()
    parent = by_id.loc[replies["parent_id"]]
    assert (parent["post_id"].to_numpy() == replies["post_id"].to_numpy()).all()
    assert (parent["author_id"].to_numpy() != replies["author_id"].to_numpy()).all()  # no self-replies
    assert (ts(parent["created_at"]).to_numpy() < ts(replies["created_at"]).to_numpy()).all()
    assert (parent["depth"].to_numpy() + 1 == replies["depth"].to_numpy()).all()
    assert (comments.loc[comments["parent_id"].isna(), "depth"] == 0).all()
    post_time = ts(comments["post_id"].map(posts.set_index("id")["created_at"]))
    assert (post_time.to_numpy() < ts(comments["created_at"]).to_numpy()).all()
    assert (ts(comments["created_at"]) < window_end).all() and (ts(posts["created_at"]) < window_end).all()
    # Nobody acts before registering; votes come after what they vote on.
    registered = ts(agents["created_at"]).set_axis(agents["id"])
    for frame in (posts, comments):
        assert (registered.loc[frame["author_id"]].to_numpy() < ts(frame["created_at"]).to_numpy()).all()
    created = pd.concat([posts.set_index("id")["created_at"], comments.set_index("id")["created_at"]])
    assert (ts(created.loc[votes["target_id"]]).to_numpy() < ts(votes["created_at"]).to_numpy()).all()
    assert (registered.loc[votes["voter_id"]].to_numpy() < ts(votes["created_at"]).to_numpy()).all()
    # Counters agree with the records they count.
    assert (posts.set_index("id")["comment_count"] == comments.groupby("post_id").size().reindex(posts["id"])
            .fillna(0).to_numpy()).all()
    assert set(votes["value"]) == {1, -1} and votes["target_type"].isin(["post", "comment"]).all()
    assert not votes.duplicated(["voter_id", "target_type", "target_id"]).any()
    for kind, frame in (("post", posts), ("comment", comments)):
        counted = votes[votes["target_type"] == kind].pivot_table(index="target_id", columns="value", aggfunc="size",
                                                                  fill_value=0)
        counted = counted.reindex(frame["id"]).fillna(0)
        assert (counted[1].to_numpy() == frame["upvotes"].to_numpy()).all()
        assert (counted[-1].to_numpy() == frame["downvotes"].to_numpy()).all()
        own = votes[votes["target_type"] == kind]["target_id"].map(frame.set_index("id")["author_id"])
        assert (own != votes[votes["target_type"] == kind]["voter_id"]).all()
    targets = pd.concat([posts[["id", "author_id"]], comments[["id", "author_id"]]]).set_index("id")["author_id"]
    karma = votes.assign(owner=votes["target_id"].map(targets)).groupby("owner")["value"].sum()
    assert (agents.set_index("id")["karma"] == karma.reindex(agents["id"]).fillna(0).to_numpy()).all()
    # Tasks point at task threads posted by their requester.
    assert tasks["post_id"].isin(posts["id"]).all()
    assert (tasks["requester_id"] == tasks["post_id"].map(posts.set_index("id")["author_id"])).all()
    assert tasks["quality"].between(0, 1).all()


def test_exposures_rederived_from_comments_match_the_truth(small, small_data):
    """The exposure rule applied to the written comments gives back the planted adoptions, parents and counts."""
    comments, posts = small_data["comments"], small_data["posts"]
    truth_dir = small.out_dir / "truth"
    # Background text carries no item: every item in a drop is planted, and posts carry none.
    assert item_uses(posts, "content").empty and item_uses(posts, "title").empty
    uses = item_uses(comments, "content")
    assert uses["row"].is_unique  # one item per item-bearing comment
    assert len(uses) == small.truth["cascades"]["item_bearing_comments"]
    uses = uses.assign(comment_id=comments.loc[uses["row"], "id"].to_numpy(),
                       agent_id=comments.loc[uses["row"], "author_id"].to_numpy(),
                       at=ts(comments.loc[uses["row"], "created_at"]).to_numpy())
    adoption = uses.groupby(["item", "agent_id"])["at"].min().rename("adopted_at")
    # Each time an agent replies to a comment holding the item, it is exposed; only exposures before adoption count.
    exposures = comments[["id", "parent_id", "author_id", "created_at"]].merge(
        uses[["comment_id", "item", "agent_id"]].rename(columns={"agent_id": "source_agent"}),
        left_on="parent_id", right_on="comment_id")
    exposures["at"] = ts(exposures["created_at"]).to_numpy()
    exposures = exposures.join(adoption, on=["item", "author_id"])
    exposures = exposures[exposures["adopted_at"].isna() | (exposures["at"] < exposures["adopted_at"])]
    exposures = exposures.sort_values("at")
    derived = exposures.groupby(["item", "author_id"]).agg(
        n_exposures=("at", "size"), first_exposure_at=("at", "first"), parent=("source_agent", "first"))
    candidates = pd.read_parquet(truth_dir / "candidates.parquet").set_index(["item_normalised", "agent_id"])
    derived.index.names = candidates.index.names
    assert len(candidates) > 500
    assert set(derived.index) == set(candidates.index)
    derived = derived.loc[candidates.index]
    assert (derived["n_exposures"].to_numpy() == candidates["n_exposures"].to_numpy()).all()
    assert (derived["first_exposure_at"].to_numpy() == ts(candidates["first_exposure_at"]).to_numpy()).all()
    assert (derived["parent"].to_numpy() == candidates["parent_agent_id"].to_numpy()).all()
    # Adopters (roots included) and their adoption times, parents and exposure counts.
    adoptions = pd.read_parquet(truth_dir / "adoptions.parquet").set_index(["item_normalised", "agent_id"])
    adoption.index.names = adoptions.index.names
    assert set(adoption.index) == set(adoptions.index)
    assert (adoption.loc[adoptions.index].to_numpy() == ts(adoptions["adopted_at"]).to_numpy()).all()
    non_root = adoptions[~adoptions["is_root"]]
    assert (derived.loc[non_root.index, "parent"].to_numpy() == non_root["parent_agent_id"].to_numpy()).all()
    assert (derived.loc[non_root.index, "n_exposures"].to_numpy() == non_root["n_exposures"].to_numpy()).all()
    roots = adoptions[adoptions["is_root"]]
    assert not set(roots.index) & set(derived.index)  # a root is never exposed to its own item
    # Adopters span one to five and more exposures (the Cox model has something to estimate).
    assert set(range(1, 6)) <= set(non_root["n_exposures"])


def test_cascade_sizes_equal_the_drawn_sizes(small, small_data):
    cascades = pd.read_parquet(small.out_dir / "truth" / "cascades.parquet")
    uses = item_uses(small_data["comments"], "content")
    uses["agent_id"] = small_data["comments"].loc[uses["row"], "author_id"].to_numpy()
    sizes = uses.groupby("item")["agent_id"].nunique()
    assert len(cascades) == small.truth["cascades"]["n"] >= 1_000
    assert (sizes.reindex(cascades["item_normalised"]).to_numpy() == cascades["size"].to_numpy()).all()
    assert (cascades["size"] == cascades["size_drawn"]).all()
    # Raw spellings differ from the normalised item for many URLs and hashtags (the ingest must normalise).
    raw_differs = cascades["item"] != cascades["item_normalised"]
    assert raw_differs[cascades["kind"] == "url"].mean() > 0.5
    assert raw_differs[cascades["kind"] == "hashtag"].mean() > 0.5
    assert cascades["item"].str.contains("utm_source=", regex=False).any()


@pytest.mark.parametrize("xmin, max_size", [(1, 10**6), (3, 10**6), (2, 25)])
def test_cascade_sizes_follow_the_exact_discrete_power_law(xmin, max_size):
    """Frequencies of drawn sizes against P(X = x) = x^-alpha / (zeta(alpha, xmin) - zeta(alpha, max + 1))."""
    from scipy.special import zeta

    alpha, n = 2.5, 200_000
    config = SimulationConfig(cascade_alpha=alpha, cascade_xmin=xmin)
    sizes = draw_sizes(np.random.default_rng(0), n, config, max_size)
    assert sizes.min() >= xmin and sizes.max() <= max_size
    norm = zeta(alpha, xmin) - zeta(alpha, max_size + 1)
    for x in range(xmin, xmin + 6):
        expected = x ** -alpha / norm
        observed = (sizes == x).mean()
        assert abs(observed - expected) < 4.5 * np.sqrt(expected * (1 - expected) / n), (x, observed, expected)


def test_lognormal_option_draws_the_discretised_lognormal(tmp_path):
    """For tests that a lognormal is not called a power law: sizes floor(exp(N(mu, sigma))) given size >= 1."""
    from scipy.stats import norm

    n = 100_000
    config = SimulationConfig(cascade_dist="lognormal", cascade_lognormal_mu=1.0, cascade_lognormal_sigma=0.8)
    sizes = draw_sizes(np.random.default_rng(1), n, config, 10**6)
    below_one = norm.cdf(0.0, 1.0, 0.8)
    for x in (1, 2, 3, 5, 8):
        expected = (norm.cdf(np.log(x + 1), 1.0, 0.8) - norm.cdf(np.log(x), 1.0, 0.8)) / (1 - below_one)
        assert abs((sizes == x).mean() - expected) < 4.5 * np.sqrt(expected * (1 - expected) / n), x
    result = simulate(tmp_path, SimulationConfig(n_agents=1_500, seed=2, cascade_dist="lognormal"))
    assert result.truth["cascades"]["dist"] == "lognormal" and result.truth["cascades"]["sizes_equal_drawn"]


def test_adoption_hazard_ratio_is_recovered_by_lifelines(small, small_data):
    """A Cox model with the exposure count as a time-varying covariate, fitted by lifelines on the exposure panel
    rebuilt from the written comments, recovers the planted HR per exposure (0.53)."""
    from lifelines import CoxTimeVaryingFitter

    comments = small_data["comments"]
    uses = item_uses(comments, "content")
    uses = uses.assign(comment_id=comments.loc[uses["row"], "id"].to_numpy(),
                       agent_id=comments.loc[uses["row"], "author_id"].to_numpy(),
                       at=ts(comments.loc[uses["row"], "created_at"]).to_numpy())
    adoption = uses.groupby(["item", "agent_id"])["at"].min().rename("adopted_at")
    exposures = comments[["parent_id", "author_id", "created_at"]].merge(
        uses[["comment_id", "item"]], left_on="parent_id", right_on="comment_id")
    exposures["at"] = ts(exposures["created_at"]).to_numpy()
    exposures = exposures.join(adoption, on=["item", "author_id"])
    exposures = exposures[exposures["adopted_at"].isna() | (exposures["at"] < exposures["adopted_at"])]
    exposures = exposures.sort_values(["item", "author_id", "at"])
    group = exposures.groupby(["item", "author_id"])
    exposures["k"] = group.cumcount() + 1
    first = group["at"].transform("min")
    window_end = ts([small.truth["window"]["end"]])[0]
    end = exposures["adopted_at"].fillna(window_end)
    day = pd.Timedelta(days=1)
    exposures["start"] = (exposures["at"] - first) / day
    exposures["stop"] = (group["at"].shift(-1).fillna(end) - first) / day
    exposures["event"] = group["at"].shift(-1).isna() & exposures["adopted_at"].notna()
    exposures["id"] = group.ngroup()
    panel = exposures[["id", "start", "stop", "event", "k"]]
    panel = panel[panel["stop"] > panel["start"]]
    fitter = CoxTimeVaryingFitter().fit(panel, id_col="id", event_col="event", start_col="start", stop_col="stop")
    coef, se = fitter.params_["k"], fitter.standard_errors_["k"]
    assert abs(coef - np.log(small.truth["adoption"]["hazard_ratio"])) < 3 * se, (np.exp(coef), se)
    assert se < 0.1


def _flat_features(drop: Path) -> pd.DataFrame:
    """The six per-agent counts of the role test, from a flat Parquet drop, in SQL."""
    con = _con()
    con.execute(f"""
        create view posts as select id, agent_id from read_parquet('{drop.as_posix()}/posts/*.parquet');
        create view comments as select id, post_id, parent_id, agent_id
            from read_parquet('{drop.as_posix()}/comments/*.parquet');
        create view edges as
            select c.agent_id as src, coalesce(parent.agent_id, post.agent_id) as dst
            from comments c left join comments parent on parent.id = c.parent_id
            left join posts post on post.id = c.post_id""")
    return con.execute("""
        with written as (
            select agent_id, count(*) filter (where kind = 'post') as posts,
                   count(*) filter (where kind = 'comment') as comments,
                   avg(is_reply::int) filter (where kind = 'comment') as reply_share
            from (select agent_id, 'post' as kind, null as is_reply from posts
                  union all select agent_id, 'comment', parent_id is not null from comments)
            group by agent_id),
        pairs as (select distinct src, dst from edges where src <> dst),
        received as (select dst as agent_id, count(*) as replies_received from edges where src <> dst group by 1),
        partners as (select a as agent_id, count(distinct b) as partners
                     from (select src as a, dst as b from pairs union select dst, src from pairs) group by 1),
        reciprocated as (select p.src as agent_id, count(*) as reciprocated
                         from pairs p join pairs q on p.src = q.dst and p.dst = q.src group by 1)
        select written.agent_id, posts, comments, coalesce(replies_received, 0) as replies_received,
               coalesce(partners, 0) as partners, coalesce(reply_share, 0) as reply_share,
               coalesce(reciprocated, 0) as reciprocated
        from written left join received using (agent_id) left join partners using (agent_id)
        left join reciprocated using (agent_id)""").df()


def test_planted_roles_are_separable_by_kmeans(default_flat):
    """k-means (k = 4) on standardised log1p per-agent counts recovers the planted roles of active agents."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    features = _flat_features(default_flat.drop)
    roles = pd.read_parquet(default_flat.out_dir / "truth" / "agent_roles.parquet")
    merged = features.merge(roles[["agent_id", "role"]], on="agent_id")
    assert len(merged) == len(features) == default_flat.truth["population"]["active_agents"]
    assert set(merged["role"]) == {"hub", "broadcaster", "conversationalist", "periphery"}
    assert 0.85 <= (merged["role"] == "periphery").mean() <= 0.95
    columns = ["posts", "comments", "replies_received", "partners", "reply_share", "reciprocated"]
    x = StandardScaler().fit_transform(np.log1p(merged[columns].to_numpy(dtype=float)))
    labels = KMeans(n_clusters=4, n_init=10, random_state=0).fit_predict(x)
    assert adjusted_rand_score(merged["role"], labels) >= 0.9
    medians = merged.groupby("role")[columns].median()
    assert medians.loc["hub", "replies_received"] > 5 * medians.loc["broadcaster", "replies_received"]
    assert medians.loc["broadcaster", "posts"] > 5 * medians.loc["hub", "posts"]
    assert medians.loc["conversationalist", "reciprocated"] > 3 * medians.loc["hub", "reciprocated"]


def test_cooperation_has_planted_confounding(default_flat):
    """Groups re-derived from the threads match the truth; the naive difference is biased away from the ATT;
    a logistic regression on the true covariates (statsmodels) recovers the planted effect on the logit."""
    import statsmodels.api as sm

    drop = default_flat.drop
    truth = default_flat.truth["cooperation"]
    con = _con()
    tasks = con.execute(f"select * from read_parquet('{drop.as_posix()}/tasks/*.parquet')").df()
    derived = con.execute(f"""
        select t.id, count(distinct c.agent_id) as contributors
        from read_parquet('{drop.as_posix()}/tasks/*.parquet') t
        join read_parquet('{drop.as_posix()}/comments/*.parquet') c on c.post_id = t.post_id
        where c.agent_id <> t.requester_id
          and (t.resolved_at is null or c.created_at::timestamptz < t.resolved_at::timestamptz)
        group by t.id""").df().set_index("id")
    planted = pd.read_parquet(default_flat.out_dir / "truth" / "task_outcomes.parquet").set_index("task_id")
    assert len(tasks) == truth["n_tasks"] >= 1_000
    assert (derived["contributors"].reindex(planted.index).to_numpy() == planted["n_contributors"].to_numpy()).all()
    multi = derived["contributors"].reindex(tasks["id"]).to_numpy() >= 2
    assert multi.sum() == truth["n_treated"] and truth["n_control"] > truth["n_treated"]
    naive = tasks["resolved"][multi].mean() - tasks["resolved"][~multi].mean()
    assert naive == pytest.approx(truth["naive_diff_success"], abs=1e-12)
    assert abs(truth["naive_diff_success"] - truth["att_success"]) > 2 * truth["naive_diff_success_se"]
    assert truth["att_success"] < 0 and truth["att_quality"] < 0
    treated = planted["treated"].to_numpy()
    assert truth["att_success"] == pytest.approx((planted["p1"] - planted["p0"])[treated].mean(), abs=1e-12)
    # The planted outcome model, fitted by statsmodels on the covariates it was drawn from.
    z = {name: (planted[name] - planted[name].mean()) / planted[name].std(ddof=0) for name in truth["confounders"]}
    design = pd.DataFrame(z)
    design["hour"] = np.cos(2 * np.pi * (planted["hour"] - 14) / 24)
    design["weekend"] = (planted["weekday"] >= 5).astype(float)
    design = pd.concat([design, pd.get_dummies(planted["submolt"], drop_first=True, dtype=float)], axis=1)
    design["treated"] = treated.astype(float)
    fit = sm.Logit(planted["resolved"].astype(float), sm.add_constant(design)).fit(disp=0)
    assert abs(fit.params["treated"] - truth["tau_logit"]) < 3 * fit.bse["treated"]
    assert abs(fit.params["has_code"] - truth["outcome_coefficients"]["has_code"]) < 3 * fit.bse["has_code"]


def test_bad_lines_are_exactly_the_listed_ones(tmp_path):
    clean = simulate(tmp_path / "clean", SimulationConfig(n_agents=1_500, seed=5))
    dirty = simulate(tmp_path / "dirty", SimulationConfig(n_agents=1_500, seed=5, bad_rate=0.02))
    bad = pd.read_parquet(dirty.out_dir / "truth" / "bad_records.parquet")
    counts = dirty.truth["bad_records"]["by_kind"]
    assert len(bad) == dirty.truth["bad_records"]["total"] == sum(counts.values()) > 50
    assert all(counts[k] > 0 for k in ("missing_field", "bad_timestamp", "wrong_type", "unknown_post",
                                       "not_utf8", "not_json"))
    post_ids = set(read_api_drop(clean.drop)["posts"]["id"])
    listed = {(row.file, row.line): row for row in bad.itertuples()}
    for path in sorted(dirty.drop.glob("*/part-*.jsonl")):
        relative = path.relative_to(dirty.drop).as_posix()
        lines = path.read_bytes().split(b"\n")
        assert lines[-1] == b""
        good = []
        for number, line in enumerate(lines[:-1], start=1):
            row = listed.get((relative, number))
            if row is None:
                good.append(line)
                continue
            if row.kind == "not_utf8":
                with pytest.raises(UnicodeDecodeError):
                    line.decode("utf-8")
                continue
            text = line.decode("utf-8")
            if row.kind == "not_json":
                with pytest.raises(json.JSONDecodeError):
                    json.loads(text)
                continue
            record = json.loads(text)
            if row.kind == "missing_field":
                assert row.missing_field not in record
            elif row.kind == "bad_timestamp":
                assert pd.isna(pd.to_datetime(record["created_at"], format="ISO8601", utc=True, errors="coerce"))
            elif row.kind == "wrong_type":
                field = {"agents": "karma", "posts": "upvotes", "comments": "upvotes"}[row.entity]
                assert isinstance(record[field], str) and not record[field].strip().lstrip("-").isdigit()
            elif row.kind == "unknown_post":
                assert record["post_id"] not in post_ids
            else:  # pragma: no cover
                raise AssertionError(row.kind)
        # Every other line is exactly what the clean run wrote: bad lines are extra, good records unchanged.
        assert b"\n".join(good) + b"\n" == (clean.drop / relative).read_bytes()


def test_overlapping_drops_repeat_records_with_newer_counters(tmp_path):
    result = simulate(tmp_path, SimulationConfig(n_agents=2_000, seed=9, n_drops=3, rescrape_share=0.3))
    assert [d.name for d in result.drops] == ["drop-001", "drop-002", "drop-003"]
    assert load_truth(result.drops[1]) == result.truth
    frames = [read_api_drop(d) for d in result.drops]
    unique = result.truth["counts"]["unique"]
    for entity in ("agents", "posts", "comments", "votes", "tasks"):
        combined = pd.concat([f[entity] for f in frames])
        key = ["voter_id", "target_type", "target_id"] if entity == "votes" else ["id"]
        assert combined.drop_duplicates(key).shape[0] == unique[entity], entity
        assert sum(len(f[entity]) for f in frames) == sum(result.rows_by_drop[d.name].get(entity, 0)
                                                          for d in result.drops)
    repeated = 0
    for entity, counter in (("posts", "upvotes"), ("comments", "upvotes"), ("agents", "karma")):
        copies = pd.concat([f[entity].assign(drop=i) for i, f in enumerate(frames)]).sort_values(["id", "drop"])
        later_copy = copies.groupby("id").shift(-1)
        has_later = later_copy["drop"].notna()
        repeated += has_later.sum()
        assert (ts(later_copy.loc[has_later, "fetched_at"]) > ts(copies.loc[has_later, "fetched_at"])).all()
        if entity != "agents":
            assert (later_copy.loc[has_later, counter] >= copies.loc[has_later, counter]).all()
        # No copy is observed before the record was created.
        assert (ts(copies["created_at"]) < ts(copies["fetched_at"])).all()
    assert repeated > 1_000
    # A post seen again later shows more comments: counters move between scrapes.
    posts = pd.concat([f["posts"].assign(drop=i) for i, f in enumerate(frames)])
    growth = posts.groupby("id")["comment_count"].agg(["min", "max"])
    assert (growth["max"] > growth["min"]).sum() > 10


def test_flat_archives_in_every_format_hold_the_same_records(tmp_path):
    config = dict(n_agents=1_500, seed=6, shape="flat")
    written = {fmt: simulate(tmp_path / fmt, SimulationConfig(fmt=fmt, **config))
               for fmt in ("jsonl", "parquet", "csv")}
    con = _con()
    readers = {"jsonl": "read_json('{}', format='newline_delimited', union_by_name=true)",
               "parquet": "read_parquet('{}')", "csv": "read_csv('{}', header=true, all_varchar=true)"}
    ids = {}
    for fmt, result in written.items():
        for entity in ("agents", "posts", "comments"):
            glob = f"{result.drop.as_posix()}/{entity}/*.{fmt}"
            frame = con.execute(f"select * from {readers[fmt].format(glob)}").df()
            assert len(frame) == result.counts[entity]
            assert "dump_date" in frame.columns
            if entity in ("posts", "comments"):
                assert {"agent_id", "agent_name"} <= set(frame.columns)
            ids[(fmt, entity)] = set(frame["id"].astype(str))
    for entity in ("agents", "posts", "comments"):
        assert ids[("jsonl", entity)] == ids[("parquet", entity)] == ids[("csv", entity)]
    posts = con.execute(f"select submolt from read_parquet('{written['parquet'].drop.as_posix()}/posts/*.parquet')"
                        ).df()
    assert posts["submolt"].map(type).eq(str).all()  # the archives carry the submolt's name


def test_progress_is_reported(tmp_path):
    calls = []
    simulate(tmp_path, SimulationConfig(n_agents=1_000, seed=1), progress=lambda *args: calls.append(args))
    assert calls[0][0] == "agents" and calls[-1] == ("done", 8, 8)
    assert {"comments", "cascades", "tasks", "truth"} <= {step for step, _, _ in calls}
