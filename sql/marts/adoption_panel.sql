-- The exposure panel in counting-process form: for every (agent, item) subject, one row per interval between
-- successive exposures, from the first exposure until adoption or censoring (see adoption_subjects.sql).
-- `start`/`stop` are hours since the first exposure (`first_exposed_at`, which places them in calendar time);
-- `exposures` is the cumulative number of exposures during the interval (the time-varying covariate); `event` is
-- 1 on the interval that ends in adoption.
-- An exposure in the very comment that adopts (the agent replied to the item and used it) is taken to come just
-- before the adoption: the adoption then closes a one-second interval at that exposure count. Exposures sharing a
-- timestamp are merged into one step of the count.
-- Covariates: the agent's activity (comments and posts written in the whole window, log1p), the item's adopters
-- before the interval starts, and its age (hours since its first mention) at the interval start. Graph features and
-- roles are joined on by observatory.adoption when those tables exist.
-- tests:
--   unique: agent_id, item, start
--   references: agent_id, item -> adoption_subjects.agent_id, item
with steps as (
    select agent_id, item, exposed_at, count(*) as n
    from exposures
    group by agent_id, item, exposed_at
),

counted as (
    select
        steps.*,
        sum(n) over (partition by agent_id, item order by exposed_at) as exposures,
        lead(exposed_at) over (partition by agent_id, item order by exposed_at) as next_exposed_at
    from steps
),

intervals as (
    select
        c.agent_id,
        c.item,
        s.first_exposed_at,
        c.exposed_at as start_at,
        case
            when c.next_exposed_at is not null then c.next_exposed_at
            when s.adopted and s.adopted_at <= c.exposed_at then c.exposed_at + interval 1 second
            else coalesce(s.adopted_at, s.window_end)
        end as stop_at,
        c.next_exposed_at is null and s.adopted as event,
        c.exposures
    from counted as c
    join adoption_subjects as s on s.agent_id = c.agent_id and s.item = c.item
),

activity as (
    select agent_id, posts + comments as written from agent_activity
),

adopters_before as (
    -- each item's adoptions strictly before each interval's start: the intervals' starts and the item's adoptions
    -- in one time order, an adoption at the very start time placed after the interval, and a running count of the
    -- adoptions (an as-of lookup written as a window, which every engine runs in one sort)
    select agent_id, item, moment as start_at, adopters
    from (
        select
            *,
            cast(sum(is_adoption) over (partition by item order by moment, is_adoption
                                        rows between unbounded preceding and current row) as bigint) as adopters
        from (
            select agent_id, item, start_at as moment, 0 as is_adoption from intervals
            union all
            select null, item, adopted_at, 1 from adoptions where adopted_at is not null
        )
    )
    where is_adoption = 0
),

final as (
    select
        i.agent_id,
        i.item,
        i.first_exposed_at,
        epoch(i.start_at - i.first_exposed_at) / 3600.0 as start,
        epoch(i.stop_at - i.first_exposed_at) / 3600.0 as stop,
        cast(i.event as integer) as event,
        i.exposures,
        ln(1 + coalesce(activity.written, 0)) as log_activity,
        coalesce(adopters_before.adopters, 0) as item_adopters_before,
        epoch(i.start_at - items.first_seen) / 3600.0 as item_age_hours
    from intervals as i
    join items on items.item = i.item
    left join activity on activity.agent_id = i.agent_id
    join adopters_before
        on adopters_before.agent_id = i.agent_id and adopters_before.item = i.item
        and adopters_before.start_at = i.start_at
    where i.stop_at > i.start_at
)

select * from final
