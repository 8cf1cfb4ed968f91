-- Every post, merged from its copies (see sql/macros/merged_copies.sql), with its author resolved by name where only
-- the name was given. `posts` keeps those whose author is known, or was given as null (a deleted account).
with latest as (
    select * from merged_copies('raw_posts', 'id')
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
        latest.author_id is null and latest.author_name is null as author_deleted,
        latest.upvotes,
        latest.downvotes,
        coalesce(latest.score, latest.upvotes - latest.downvotes) as score,
        latest.comment_count,
        latest.is_pinned,
        latest.created_at,
        latest.updated_at,
        latest.type,
        coalesce(latest.is_deleted, false) as is_deleted,
        latest.is_spam,
        latest.verification_status,
        latest._source.observed_at as observed_at,
        latest.copies,
        latest._source.drop_seq as drop_seq,
        latest._source.file as source_file,
        latest._source.line as source_line,
        latest._source.path as source_path
    from latest
    left join stg_agent_names on latest.author_id is null and stg_agent_names.name = latest.author_name
    left join agents on agents.id = latest.author_id
)

select * from final
