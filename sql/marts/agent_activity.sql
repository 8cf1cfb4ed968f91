-- One row per agent: what it did and when. An agent is *active* when it wrote at least one post or comment in
-- the observed window; registered agents that never did are the inactive population. Posts and comments of deleted
-- accounts (no author) belong to no agent. `duplicate_share` is the share of the agent's posts and comments that are
-- near-identical to at least two others (`duplicate_texts`); an agent is flagged `coordinated` when at least half of
-- at least 5 posts and comments are such duplicates: a spam or campaign account. The flag is a column, never a
-- filter: every analysis sees every account unless asked to leave the flagged ones out.
-- tests:
--   unique: agent_id
--   not_null: agent_id
with post_counts as (
    select author_id as agent_id, count(*) as posts, min(created_at) as first_post, max(created_at) as last_post
    from posts
    where author_id is not null
    group by author_id
),

comment_counts as (
    select
        author_id as agent_id,
        count(*) as comments,
        count(*) filter (where parent_id is null) as top_level_comments,
        min(created_at) as first_comment,
        max(created_at) as last_comment
    from comments
    where author_id is not null
    group by author_id
),

active_days as (
    select agent_id, count(distinct day) as active_days
    from (
        select author_id as agent_id, cast(created_at as date) as day from posts where author_id is not null
        union all
        select author_id as agent_id, cast(created_at as date) as day from comments where author_id is not null
    )
    group by agent_id
),

duplicates as (
    select agent_id, count(*) as duplicates
    from duplicate_texts
    where agent_id is not null
    group by agent_id
),

all_agents as (
    select id as agent_id from agents
    union
    select agent_id from post_counts
    union
    select agent_id from comment_counts
),

final as (
    select
        all_agents.agent_id,
        agents.name,
        agents.karma,
        agents.created_at as registered_at,
        agents.id is not null as registered,
        coalesce(post_counts.posts, 0) as posts,
        coalesce(comment_counts.comments, 0) as comments,
        coalesce(comment_counts.top_level_comments, 0) as top_level_comments,
        coalesce(active_days.active_days, 0) as active_days,
        least(post_counts.first_post, comment_counts.first_comment) as first_activity,
        greatest(post_counts.last_post, comment_counts.last_comment) as last_activity,
        coalesce(post_counts.posts, 0) + coalesce(comment_counts.comments, 0) > 0 as active,
        coalesce(duplicates.duplicates, 0) as duplicate_texts,
        coalesce(duplicates.duplicates, 0)
            / nullif(coalesce(post_counts.posts, 0) + coalesce(comment_counts.comments, 0), 0) as duplicate_share,
        coalesce(post_counts.posts, 0) + coalesce(comment_counts.comments, 0) >= 5
            and coalesce(duplicates.duplicates, 0)
                >= 0.5 * (coalesce(post_counts.posts, 0) + coalesce(comment_counts.comments, 0)) as coordinated
    from all_agents
    left join agents on agents.id = all_agents.agent_id
    left join post_counts on post_counts.agent_id = all_agents.agent_id
    left join comment_counts on comment_counts.agent_id = all_agents.agent_id
    left join active_days on active_days.agent_id = all_agents.agent_id
    left join duplicates on duplicates.agent_id = all_agents.agent_id
)

select * from final
