-- Who are the hubs? Every active agent with its role and the centralities behind it, most-replied-to first.
with final as (
    select
        r.agent_id,
        r.name,
        r.role,
        f.in_strength as replies_received,
        f.in_degree as repliers,
        f.out_degree as replied_to,
        f.posts,
        f.comments,
        f.pagerank,
        f.betweenness,
        f.coreness,
        r.core_periphery_score
    from agent_roles as r
    join agent_features as f on f.agent_id = r.agent_id
    where r.active
    order by f.in_strength desc, r.agent_id
)

select * from final
