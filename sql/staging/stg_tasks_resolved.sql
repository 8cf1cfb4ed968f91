-- Every task annotation, deduplicated, requester defaulted to the post's author, post reference checked.
with ranked as (
    select
        *,
        row_number() over (
            partition by id
            order by copy_order(_observed_at, _partial, _drop_seq, _file, _line, _path) desc
        ) as _copy_rank
    from raw_tasks
    where _drop_seq in (select drop_seq from finished_drops)
),

latest as (
    select * from ranked where _copy_rank = 1
),

final as (
    select
        latest.id,
        latest.post_id,
        coalesce(latest.requester_id, posts.author_id) as requester_id,
        coalesce(latest.created_at, posts.created_at) as created_at,
        latest.category,
        latest.resolved,
        latest.resolved_at,
        latest.quality,
        latest._observed_at as observed_at,
        latest._drop_seq as drop_seq,
        latest._file as source_file,
        latest._line as source_line,
        latest._path as source_path,
        case when posts.id is null then 'unknown_post' end as reference_problem
    from latest
    left join posts on posts.id = latest.post_id
)

select * from final
