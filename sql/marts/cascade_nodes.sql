-- Every adopter placed in its cascade: the root it descends from, its depth, and its ancestors (for subtree sizes).
-- tests:
--   unique: item, agent_id
--   references: item, agent_id -> adoptions.item, agent_id
--   not_null: cascade_id
with recursive tree as (
    select
        item,
        child_agent_id as agent_id,
        child_agent_id as root_agent_id,
        0 as depth,
        [child_agent_id] as path,
        child_adopted_at as adopted_at
    from cascade_edges
    where parent_agent_id is null
    union all
    select
        e.item,
        e.child_agent_id,
        t.root_agent_id,
        t.depth + 1,
        list_append(t.path, e.child_agent_id),
        e.child_adopted_at
    from cascade_edges as e
    join tree as t on e.item = t.item and e.parent_agent_id = t.agent_id
),

final as (
    select
        md5(item || chr(31) || root_agent_id) as cascade_id,
        item,
        root_agent_id,
        agent_id,
        depth,
        path,
        adopted_at
    from tree
)

select * from final
