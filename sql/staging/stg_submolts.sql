-- Submolts: one row per name (the copy observed last), plus every submolt that posts name but no submolts file
-- describes (listed = false), so that the list is complete.
with ranked as (
    select
        *,
        row_number() over (
            partition by name
            order by _observed_at desc nulls last, _drop_seq desc, _file desc, _line desc
        ) as _copy_rank
    from raw_submolts
    where _drop_seq in (select drop_seq from finished_drops)
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
        _observed_at as observed_at
    from ranked
    where _copy_rank = 1
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
