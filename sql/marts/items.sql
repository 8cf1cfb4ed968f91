-- One row per item: what it is, when it first appeared, how many agents used it and were exposed to it, and into
-- how many independent cascades its adoptions fall.
-- tests:
--   unique: item
--   not_null: item
with mentions as (
    select item, any_value(kind) as kind, count(*) as mentions, min(created_at) as first_seen,
           max(created_at) as last_seen
    from item_mentions
    group by item
),

adopters as (
    select item, count(*) as adopters from adoptions group by item
),

exposed as (
    select item, count(distinct agent_id) as exposed_agents, count(*) as exposures from exposures group by item
),

cascade_counts as (
    select item, count(*) as cascades, max(size) as largest_cascade from cascades group by item
),

final as (
    select
        mentions.item,
        mentions.kind,
        mentions.first_seen,
        mentions.last_seen,
        mentions.mentions,
        coalesce(adopters.adopters, 0) as adopters,
        coalesce(exposed.exposed_agents, 0) as exposed_agents,
        coalesce(exposed.exposures, 0) as exposures,
        coalesce(cascade_counts.cascades, 0) as cascades,
        cascade_counts.largest_cascade
    from mentions
    left join adopters using (item)
    left join exposed using (item)
    left join cascade_counts using (item)
)

select * from final
