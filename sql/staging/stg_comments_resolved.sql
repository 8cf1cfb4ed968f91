-- Every comment, deduplicated, with its author resolved and its references checked; `comments` keeps the sound ones.
with ranked as (
    select
        *,
        row_number() over (
            partition by id
            order by _observed_at desc nulls last, _drop_seq desc, _file desc, _line desc
        ) as _copy_rank,
        count(*) over (partition by id) as copies
    from raw_comments
    where _drop_seq in (select drop_seq from finished_drops)
),

latest as (
    select * from ranked where _copy_rank = 1
),

final as (
    select
        latest.id,
        latest.post_id,
        latest.parent_id,
        coalesce(latest.author_id, stg_agent_names.agent_id) as author_id,
        coalesce(latest.author_name, agents.name) as author_name,
        latest.content,
        coalesce(latest.score, latest.upvotes - latest.downvotes) as score,
        latest.upvotes,
        latest.downvotes,
        latest.depth,
        latest.created_at,
        coalesce(latest.is_deleted, false) as is_deleted,
        latest._observed_at as observed_at,
        latest.copies,
        latest._drop_seq as drop_seq,
        latest._file as source_file,
        latest._line as source_line,
        case
            when posts.id is null then 'unknown_post'
            when coalesce(latest.author_id, stg_agent_names.agent_id) is null then 'unknown_author'
        end as reference_problem
    from latest
    left join stg_agent_names on latest.author_id is null and stg_agent_names.name = latest.author_name
    left join agents on agents.id = latest.author_id
    left join posts on posts.id = latest.post_id
)

select * from final
