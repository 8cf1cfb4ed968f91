-- Comments: one row per id (the copy observed last), author resolved from the name where only the name was given
-- (the SDK's shape). Comments whose post is unknown, or whose author name matches no agent, are in `quarantine`.
-- tests:
--   unique: id
--   not_null: id, post_id, created_at
--   references: post_id -> posts.id
--   references (warn): author_id -> agents.id
--   references (warn): parent_id -> comments.id
with final as (
    select * exclude (reference_problem) from stg_comments_resolved where reference_problem is null
)

select * from final
