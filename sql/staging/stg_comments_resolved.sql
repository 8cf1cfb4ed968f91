-- Every comment, merged from its copies (see sql/macros/merged_copies.sql), with its author resolved and its
-- references checked; `comments` keeps the sound ones. A comment whose author was given as null (a deleted
-- account) is sound: it keeps its place in the thread with `author_deleted` and no author.
with latest as (
    select * from merged_copies('raw_comments', 'id')
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
