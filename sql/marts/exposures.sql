-- Exposures: an agent is exposed to an item each time it writes a comment that replies to a post or comment
-- containing the item, or a comment anywhere in the thread of a post containing the item (it has read it). One
-- exposure per (agent, item, comment written), even when the thread's post and the parent comment both carry the
-- item; the source is then the parent comment (what the agent answered directly). Only exposures before the
-- agent's adoption of the item count (all of them, for agents that never adopt it): those strictly earlier, and the
-- one in the adopting comment itself, since an agent reads what it replies to before it writes.
-- tests:
--   unique: agent_id, item, comment_id
--   references: comment_id -> comments.id
--   references: item, source_agent_id -> adoptions.item, agent_id
with readings as (
    -- the post of the thread the comment is in
    select c.author_id as agent_id, m.item, c.id as comment_id, c.created_at as exposed_at,
           'post' as source_type, m.content_id as source_id, m.agent_id as source_agent_id, m.created_at as source_at,
           2 as preference
    from comments as c
    join item_mentions as m on m.content_type = 'post' and m.content_id = c.post_id
    where not c.is_deleted and c.author_id is not null
    union all
    -- the comment it replied to
    select c.author_id, m.item, c.id, c.created_at, 'comment', m.content_id, m.agent_id, m.created_at, 1
    from comments as c
    join item_mentions as m on m.content_type = 'comment' and m.content_id = c.parent_id
    where not c.is_deleted and c.author_id is not null
),

one_per_comment as (
    select *
    from readings
    where source_at <= exposed_at
    qualify row_number() over (partition by agent_id, item, comment_id order by preference) = 1
),

final as (
    select
        e.agent_id,
        e.item,
        e.exposed_at,
        e.comment_id,
        e.source_type,
        e.source_id,
        e.source_agent_id
    from one_per_comment as e
    left join adoptions as a on a.agent_id = e.agent_id and a.item = e.item
    where a.adopted_at is null
       or e.exposed_at < a.adopted_at
       or (a.content_type = 'comment' and e.comment_id = a.content_id)
)

select * from final
