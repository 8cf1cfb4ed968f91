-- Every post, deduplicated, with its author resolved; `posts` keeps those whose author is known.
with ranked as (
    select
        *,
        row_number() over (
            partition by id
            order by _observed_at desc nulls last, _drop_seq desc, _file desc, _line desc
        ) as _copy_rank,
        count(*) over (partition by id) as copies
    from raw_posts
    where _drop_seq in (select drop_seq from finished_drops)
),

latest as (
    select * from ranked where _copy_rank = 1
),

final as (
    select
        latest.id,
        latest.title,
        latest.content,
        latest.url,
        latest.submolt,
        latest.submolt_id,
        coalesce(latest.author_id, stg_agent_names.agent_id) as author_id,
        coalesce(latest.author_name, agents.name) as author_name,
        latest.upvotes,
        latest.downvotes,
        coalesce(latest.score, latest.upvotes - latest.downvotes) as score,
        latest.comment_count,
        latest.is_pinned,
        latest.created_at,
        latest._observed_at as observed_at,
        latest.copies,
        latest._drop_seq as drop_seq,
        latest._file as source_file,
        latest._line as source_line
    from latest
    left join stg_agent_names on latest.author_id is null and stg_agent_names.name = latest.author_name
    left join agents on agents.id = latest.author_id
)

select * from final
