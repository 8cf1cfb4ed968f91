-- Which items spread furthest? Every cascade with its item, its root agent, size, depth and structural virality,
-- largest first.
with final as (
    select
        c.item,
        c.kind,
        c.size,
        c.depth,
        c.max_breadth,
        c.structural_virality,
        c.root_agent_id,
        a.name as root_name,
        c.started_at,
        c.duration_hours,
        i.adopters as item_adopters,
        i.cascades as item_cascades
    from cascades as c
    left join agents as a on a.id = c.root_agent_id
    left join items as i on i.item = c.item
    order by c.size desc, c.structural_virality desc nulls last, c.item
)

select * from final
