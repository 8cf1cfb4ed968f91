-- Agents: one row per id, merged field by field from every copy: each field takes its value from the most preferred
-- copy (`copy_order`) that says something about it. A complete record speaks for all its fields, nulls included; a
-- partial observation (an author object embedded in a post or comment, a list item) only for the fields it shows.
-- With complete records only, this is exactly "the copy observed last wins".
with observed as (
    select * exclude (_drop_seq, _file, _line, _observed_at, _path, _partial),
        _partial,
        copy_order(_observed_at, _partial, _drop_seq, _file, _line, _path) as _order,
        {'observed_at': _observed_at, 'drop_seq': _drop_seq, 'file': _file, 'line': _line, 'path': _path} as _source
    from raw_agents
    where _drop_seq in (select drop_seq from finished_drops)
),

merged as (
    select
        id,
        arg_max_null(columns(* exclude (id, _partial, _order, _source)),
                     (columns(* exclude (id, _partial, _order, _source)) is not null or not _partial, _order)),
        arg_max(_source, _order) as _source,
        count(*) as copies,
        count(*) filter (where not _partial) as complete_copies
    from observed
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
