-- One row per (agent, item): the agent's first use of the item. Ties (two uses in the same second) are broken by
-- content type (a post before a comment) and id, so the choice is reproducible.
-- tests:
--   unique: agent_id, item
--   not_null: agent_id, item
--   references: item, content_id -> item_mentions.item, content_id
with ranked as (
    select
        *,
        row_number() over (
            partition by agent_id, item
            order by created_at, content_type desc, content_id
        ) as _use
    from item_mentions
    -- only agents adopt: what a deleted account wrote can expose others, but it is no one's adoption
    where agent_id is not null
),

final as (
    select
        agent_id,
        item,
        kind,
        created_at as adopted_at,
        content_type,
        content_id,
        post_id
    from ranked
    where _use = 1
)

select * from final
