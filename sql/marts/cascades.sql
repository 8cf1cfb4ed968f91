-- One row per cascade (a root and every adoption that descends from it): size (distinct adopters), depth, maximum
-- breadth (most adopters at one depth), structural virality (Goel et al. 2016: the mean shortest-path distance
-- between pairs of adopters in the tree, computed exactly from subtree sizes as the Wiener index:
-- sum over tree edges of s * (n - s), divided by n(n-1)/2), and timing.
-- tests:
--   unique: cascade_id
--   not_null: cascade_id, item, size
with subtree_sizes as (
    select cascade_id, ancestor, count(*) as subtree_size
    from (select cascade_id, unnest(path) as ancestor from cascade_nodes)
    group by cascade_id, ancestor
),

sizes as (
    select cascade_id, any_value(item) as item, any_value(root_agent_id) as root_agent_id, count(*) as size,
           max(depth) as depth, min(adopted_at) as started_at, max(adopted_at) as ended_at
    from cascade_nodes
    group by cascade_id
),

breadth as (
    select cascade_id, max(n) as max_breadth
    from (select cascade_id, depth, count(*) as n from cascade_nodes group by cascade_id, depth)
    group by cascade_id
),

wiener as (
    select s.cascade_id, sum(s.subtree_size * (z.size - s.subtree_size)) as wiener_index
    from subtree_sizes as s
    join sizes as z using (cascade_id)
    where s.ancestor <> z.root_agent_id
    group by s.cascade_id
),

final as (
    select
        sizes.cascade_id,
        sizes.item,
        items.kind,
        sizes.root_agent_id,
        sizes.size,
        sizes.depth,
        breadth.max_breadth,
        case when sizes.size > 1 then coalesce(wiener.wiener_index, 0) / (sizes.size * (sizes.size - 1) / 2.0) end
            as structural_virality,
        sizes.started_at,
        sizes.ended_at,
        epoch(sizes.ended_at - sizes.started_at) / 3600.0 as duration_hours
    from sizes
    join breadth using (cascade_id)
    left join wiener using (cascade_id)
    left join (select distinct item, kind from adoptions) as items using (item)
)

select * from final
