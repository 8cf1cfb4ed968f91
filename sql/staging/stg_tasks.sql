-- Tasks: one row per id (the copy observed last); the requester defaults to the post's author. Tasks whose post is
-- unknown are in `quarantine`.
-- tests:
--   unique: id
--   not_null: id
--   references: post_id -> posts.id
with final as (
    select * exclude (reference_problem) from stg_tasks_resolved where reference_problem is null
)

select * from final
