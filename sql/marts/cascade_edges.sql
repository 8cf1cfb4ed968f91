-- The cascade forest: each adoption's parent is the agent that exposed it first, i.e. the author of the
-- item-bearing post or comment of its earliest exposure before adopting (ties broken by comment id). An adoption
-- with no earlier exposure is an independent entry: the root of a cascade of its own. Parents are adopters by
-- construction (they used the item in what exposed the child), and adopted earlier.
-- tests:
--   unique: item, child_agent_id
--   references: item, child_agent_id -> adoptions.item, agent_id
--   references: item, parent_agent_id -> adoptions.item, agent_id
with first_exposure as (
    select agent_id, item, source_agent_id, exposed_at
    from exposures
    qualify row_number() over (partition by agent_id, item order by exposed_at, comment_id) = 1
),

exposure_counts as (
    select agent_id, item, count(*) as exposures_before
    from exposures
    group by agent_id, item
),

final as (
    select
        a.item,
        a.kind,
        f.source_agent_id as parent_agent_id,
        a.agent_id as child_agent_id,
        p.adopted_at as parent_adopted_at,
        a.adopted_at as child_adopted_at,
        f.exposed_at as first_exposed_at,
        coalesce(n.exposures_before, 0) as exposures_before
    from adoptions as a
    left join first_exposure as f on f.agent_id = a.agent_id and f.item = a.item
    left join adoptions as p on p.agent_id = f.source_agent_id and p.item = a.item
    left join exposure_counts as n on n.agent_id = a.agent_id and n.item = a.item
)

select * from final
