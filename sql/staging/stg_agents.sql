-- Agents: one row per id, merged field by field from every copy: each field takes its value from the most preferred
-- copy (`copy_order`) that says something about it. A complete record speaks for all its fields, nulls included; a
-- partial observation (an author object embedded in a post or comment, a list item) only for the fields it shows.
-- With complete records only, this is exactly "the copy observed last wins".
with observed as (
    select * exclude (_drop_seq, _file, _line, _observed_at, _path, _partial),
        coalesce(_partial, false) as _partial,  -- null in rows ingested before partial observations existed
        copy_order(_observed_at, _partial, _drop_seq, _file, _line, _path) as _order,
        {'observed_at': _observed_at, 'drop_seq': _drop_seq, 'file': _file, 'line': _line, 'path': _path} as _source
    from raw_agents
    where _drop_seq in (select drop_seq from finished_drops)
),

ranked as (
    -- Most keys have copies that are all complete records: the most preferred copy is the record, as it stands.
    -- Only keys with a partial observation among their copies are merged field by field.
    select
        *,
        row_number() over (partition by id order by _order desc) as _rank,
        count(*) over (partition by id) as copies,
        bool_or(_partial) over (partition by id) as _merge
    from observed
),

merged as (
    select * exclude (_partial, _order, _rank, _merge), copies as complete_copies
    from ranked
    where _rank = 1 and not _merge
    union all by name
    select
        id,
        arg_max_null(columns(* exclude (id, _partial, _order, _source, _rank, copies, _merge)),
                     (columns(* exclude (id, _partial, _order, _source, _rank, copies, _merge)) is not null
                      or not _partial, _order)),
        arg_max(_source, _order) as _source,
        count(*) as copies,
        count(*) filter (where not _partial) as complete_copies
    from ranked
    where _merge
    group by id
),

final as (
    select
        id,
        name,
        description,
        karma,
        created_at,
        is_claimed,
        is_active,
        follower_count,
        following_count,
        avatar_url,
        owner_x_handle,
        first_seen_at,
        last_seen_at,
        deleted_at,
        _source.observed_at as observed_at,
        copies,
        complete_copies,
        _source.drop_seq as drop_seq,
        _source.file as source_file,
        _source.line as source_line,
        _source.path as source_path
    from merged
)

select * from final
