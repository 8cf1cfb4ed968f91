-- Activity features of each active agent, computed in SQL: what it wrote, on how many days, how bursty, how
-- spread over submolts. Graph features come from igraph (observatory.roles) and are joined to these.
-- tests:
--   unique: agent_id
--   references: agent_id -> agent_activity.agent_id
with events as (
    select author_id as agent_id, created_at, submolt, 'post' as kind, false as starts_thread
    from posts
    where author_id is not null
    union all
    select c.author_id, c.created_at, p.submolt, 'comment', c.parent_id is null
    from comments as c
    join posts as p on p.id = c.post_id
    where c.author_id is not null
),

gaps as (
    select
        agent_id,
        epoch(created_at) - epoch(lag(created_at) over (partition by agent_id order by created_at)) as gap_seconds
    from events
),

-- Burstiness (Goh & Barabasi 2008): B = (sd - mean) / (sd + mean) of inter-event times; -1 periodic, 0 Poisson,
-- towards 1 bursty. Undefined (null) with fewer than two gaps.
burstiness as (
    select
        agent_id,
        case when count(gap_seconds) >= 2 and stddev_pop(gap_seconds) + avg(gap_seconds) > 0
            then (stddev_pop(gap_seconds) - avg(gap_seconds)) / (stddev_pop(gap_seconds) + avg(gap_seconds))
        end as burstiness
    from gaps
    group by agent_id
),

submolt_counts as (
    select agent_id, submolt, count(*) as n
    from events
    group by agent_id, submolt
),

-- Shannon entropy (bits) of the agent's activity over submolts.
submolt_entropy as (
    select
        agent_id,
        -sum((n / total) * log2(n / total)) as submolt_entropy,
        count(*) as submolts
    from (select *, sum(n) over (partition by agent_id) as total from submolt_counts)
    group by agent_id
),

activity as (
    select
        agent_id,
        count(*) filter (where kind = 'post') as posts,
        count(*) filter (where kind = 'comment') as comments,
        count(*) filter (where starts_thread) as thread_starts,
        count(distinct cast(created_at as date)) as active_days,
        min(created_at) as first_activity,
        max(created_at) as last_activity
    from events
    group by agent_id
),

final as (
    select
        activity.agent_id,
        activity.posts,
        activity.comments,
        case when activity.comments > 0 then activity.thread_starts / activity.comments end as thread_start_share,
        activity.active_days,
        submolt_entropy.submolts,
        coalesce(submolt_entropy.submolt_entropy, 0) as submolt_entropy,
        burstiness.burstiness,
        activity.first_activity,
        activity.last_activity
    from activity
    left join submolt_entropy using (agent_id)
    left join burstiness using (agent_id)
)

select * from final
