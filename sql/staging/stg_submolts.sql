-- Submolts: one row per name, merged from its copies (see sql/macros/merged_copies.sql): a submolt response is a
-- complete record, the submolt objects embedded in posts are partial observations. Every submolt that posts name
-- but nothing describes is added (listed = false), so that the list is complete.
-- tests:
--   unique: name
--   not_null: name
with merged as (
    select * from merged_copies('raw_submolts', 'name')
),

listed as (
    select
        name,
        id,
        display_name,
        description,
        subscriber_count,
        post_count,
        created_at,
        owner,
        owner_id,
        true as listed,
        _source.observed_at as observed_at
    from merged
),

named_by_posts as (
    select
        submolt as name,
        any_value(submolt_id) as id
    from posts
    where submolt not in (select name from listed)
    group by submolt
),

final as (
    select * from listed
    union all by name
    select name, id, false as listed from named_by_posts
)

select * from final
