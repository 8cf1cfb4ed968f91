-- One row per key of a raw table (`raw`, keyed by the column named `key`), merged from every copy of the record,
-- as `stg_agents`, `stg_posts_resolved`, `stg_comments_resolved` and `stg_submolts` read it. Each field takes
-- its value from the most preferred copy (`copy_order`) that says something about it: a complete record speaks
-- for all its fields, nulls included; a partial observation (an author object embedded in a comment, a list item)
-- only for the fields it shows. With complete records only this is exactly "the copy observed last wins", and the
-- most preferred copy is taken as it stands: only keys with a partial copy are merged field by field.
-- Most keys have one complete copy, which is the row as it stands: only the keys with several copies or a partial
-- one (`repeated`, found on the key column alone) are ranked, so the window sorts those rows and not every row.
-- Columns: the record's fields, `_source` (observed_at, drop_seq, file, line, path of the most preferred copy),
-- `copies` and `complete_copies`.
merged_copies(raw, key) as table
with observed as not materialized (
    select
        * exclude (_drop_seq, _file, _line, _observed_at, _path, _partial),
        coalesce(_partial, false) as _partial,  -- null in rows ingested before partial observations existed
        copy_order(_observed_at, _partial, _drop_seq, _file, _line, _path) as _order,
        {'observed_at': _observed_at, 'drop_seq': _drop_seq, 'file': _file, 'line': _line, 'path': _path} as _source,
        columns(key) as _key
    from query_table(raw)
    where _drop_seq in (select drop_seq from finished_drops)
),

repeated as (
    select _key
    from observed
    group by _key
    having count(*) > 1 or bool_or(_partial)
),

ranked as (
    select
        *,
        row_number() over (partition by _key order by _order desc) as _rank,
        count(*) over (partition by _key) as copies,
        bool_or(_partial) over (partition by _key) as _merge
    from observed
    semi join repeated using (_key)
)

select * exclude (_partial, _order, _key), cast(1 as bigint) as copies, cast(1 as bigint) as complete_copies
from observed
anti join repeated using (_key)
union all by name
select * exclude (_partial, _order, _rank, _merge, _key), copies as complete_copies
from ranked
where _rank = 1 and not _merge
union all by name
select
    arg_max_null(columns(* exclude (_partial, _order, _source, _rank, copies, _merge, _key)),
                 (columns(* exclude (_partial, _order, _source, _rank, copies, _merge, _key)) is not null
                  or not _partial, _order)),
    arg_max(_source, _order) as _source,
    count(*) as copies,
    count(*) filter (where not _partial) as complete_copies
from ranked
where _merge
group by _key
