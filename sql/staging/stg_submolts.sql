-- Submolts: one row per name, merged from its copies as agents are (see stg_agents.sql): a submolt response is a
-- complete record, the submolt objects embedded in posts are partial observations. Every submolt that posts name
-- but nothing describes is added (listed = false), so that the list is complete.
with observed as (
    select * exclude (_drop_seq, _file, _line, _observed_at, _path, _partial),
        coalesce(_partial, false) as _partial,  -- null in rows ingested before partial observations existed
        copy_order(_observed_at, _partial, _drop_seq, _file, _line, _path) as _order,
        _observed_at
    from raw_submolts
    where _drop_seq in (select drop_seq from finished_drops)
),

ranked as (
    -- Most keys have copies that are all complete records: the most preferred copy is the record, as it stands.
    -- Only keys with a partial observation among their copies are merged field by field.
    select
        *,
        row_number() over (partition by name order by _order desc) as _rank,
        count(*) over (partition by name) as copies,
        bool_or(_partial) over (partition by name) as _merge
    from observed
),

merged as (
    select * exclude (_partial, _order, _rank, _merge, _observed_at), _observed_at as observed_at
    from ranked
    where _rank = 1 and not _merge
    union all by name
    select
        name,
        arg_max_null(columns(* exclude (name, _partial, _order, _observed_at, _rank, copies, _merge)),
                     (columns(* exclude (name, _partial, _order, _observed_at, _rank, copies, _merge)) is not null
                      or not _partial, _order)),
        arg_max(_observed_at, _order) as observed_at,
        count(*) as copies
    from ranked
    where _merge
    group by name
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
        observed_at
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
