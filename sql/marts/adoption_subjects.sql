-- One row per (agent, item) with at least one exposure: the subjects of the adoption analysis. The clock starts
-- at the agent's first exposure to the item; it stops at adoption, or at the end of the observation window (the
-- last post or comment in the data) for agents that never adopt: censored there, not at a cascade's last adoption.
-- tests:
--   unique: agent_id, item
--   references: agent_id, item -> exposures.agent_id, item
with window_end as (
    select max(created_at) as window_end
    from (select created_at from posts union all select created_at from comments)
),

exposure_counts as (
    select agent_id, item, min(exposed_at) as first_exposed_at, count(*) as exposures
    from exposures
    group by agent_id, item
),

final as (
    select
        e.agent_id,
        e.item,
        i.kind,
        e.first_exposed_at,
        e.exposures,
        a.adopted_at is not null as adopted,
        a.adopted_at,
        w.window_end,
        epoch(coalesce(a.adopted_at, w.window_end) - e.first_exposed_at) / 3600.0 as hours_at_risk
    from exposure_counts as e
    cross join window_end as w
    join items as i on i.item = e.item
    left join adoptions as a on a.agent_id = e.agent_id and a.item = e.item
)

select * from final
