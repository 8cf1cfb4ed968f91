-- Every comment, merged from its copies as agents are (see stg_agents.sql), with its author resolved and its
-- references checked; `comments` keeps the sound ones. A comment whose author was given as null (a deleted
-- account) is sound: it keeps its place in the thread with `author_deleted` and no author.
with observed as (
    select * exclude (_drop_seq, _file, _line, _observed_at, _path, _partial),
        coalesce(_partial, false) as _partial,  -- null in rows ingested before partial observations existed
        copy_order(_observed_at, _partial, _drop_seq, _file, _line, _path) as _order,
        {'observed_at': _observed_at, 'drop_seq': _drop_seq, 'file': _file, 'line': _line, 'path': _path} as _source
    from raw_comments
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

latest as (
    select * exclude (_partial, _order, _rank, _merge)
    from ranked
    where _rank = 1 and not _merge
    union all by name
    select
        id,
        arg_max_null(columns(* exclude (id, _partial, _order, _source, _rank, copies, _merge)),
                     (columns(* exclude (id, _partial, _order, _source, _rank, copies, _merge)) is not null
                      or not _partial, _order)),
        arg_max(_source, _order) as _source,
        count(*) as copies
    from ranked
    where _merge
    group by id
),

final as (
    select
        latest.id,
        latest.post_id,
        latest.parent_id,
        coalesce(latest.author_id, stg_agent_names.agent_id) as author_id,
        coalesce(latest.author_name, agents.name) as author_name,
        latest.author_id is null and latest.author_name is null as author_deleted,
        latest.content,
        coalesce(latest.score, latest.upvotes - latest.downvotes) as score,
        latest.upvotes,
        latest.downvotes,
        latest.depth,
        latest.created_at,
        coalesce(latest.is_deleted, false) as is_deleted,
        latest._source.observed_at as observed_at,
        latest.copies,
        latest._source.drop_seq as drop_seq,
        latest._source.file as source_file,
        latest._source.line as source_line,
        latest._source.path as source_path,
        case
            when posts.id is null then 'unknown_post'
            when latest.author_name is not null and coalesce(latest.author_id, stg_agent_names.agent_id) is null
                then 'unknown_author'
        end as reference_problem
    from latest
    left join stg_agent_names on latest.author_id is null and stg_agent_names.name = latest.author_name
    left join agents on agents.id = latest.author_id
    left join posts on posts.id = latest.post_id
)

select * from final
