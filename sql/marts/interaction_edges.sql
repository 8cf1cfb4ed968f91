-- The reply graph: a directed, weighted edge from each commenter to the agent it replied to. A reply to a comment
-- points at that comment's author; a top-level comment at the post's author. Self-replies are dropped, and so are
-- replies whose parent comment is not in `comments` (deleted or never scraped): we do not guess their target.
-- Replies by or to a deleted account (no author) are not edges. weight = number of such replies; first_at/last_at bound them in time.
-- tests:
--   unique: source_id, target_id
--   not_null: source_id, target_id
--   references: source_id -> agent_activity.agent_id
--   references: target_id -> agent_activity.agent_id
with replies as (
    select
        c.author_id as source_id,
        case when c.parent_id is null then p.author_id else parent.author_id end as target_id,
        c.created_at
    from comments as c
    join posts as p on p.id = c.post_id
    left join comments as parent on parent.id = c.parent_id
    where c.parent_id is null or parent.id is not null
),

final as (
    select
        source_id,
        target_id,
        count(*) as weight,
        min(created_at) as first_at,
        max(created_at) as last_at
    from replies
    where source_id <> target_id and source_id is not null and target_id is not null
    group by source_id, target_id
)

select * from final
