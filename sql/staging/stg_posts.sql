-- Posts: one row per id (merged from its copies), author resolved from the name where only the name was given.
-- A post whose author was given as null (a deleted account) is kept with `author_deleted` and no author; one whose
-- author name matches no agent is in `quarantine` (reason unknown_author), not here.
-- tests:
--   unique: id
--   not_null: id, created_at
with final as (
    select * from stg_posts_resolved where author_id is not null or author_deleted
)

select * from final
