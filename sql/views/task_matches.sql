-- Which tasks matched which? Each matched pair: the multi-agent task, the single-agent task it was compared with,
-- their threads' submolts and outcomes, and the propensity-logit distance between them.
with final as (
    select
        m.pair_id,
        m.treated_task_id as multi_agent_task_id,
        m.control_task_id as single_agent_task_id,
        t.submolt as multi_agent_submolt,
        c.submolt as single_agent_submolt,
        t.contributors as multi_agent_contributors,
        t.resolved as multi_agent_resolved,
        c.resolved as single_agent_resolved,
        t.quality as multi_agent_quality,
        c.quality as single_agent_quality,
        m.distance as logit_distance
    from cooperation_matches as m
    join task_events as t on t.task_id = m.treated_task_id
    join task_events as c on c.task_id = m.control_task_id
    order by m.pair_id
)

select * from final
