-- Posts: one row per id (the copy observed last), author resolved from the name where only the name was given.
-- A post whose author cannot be resolved is in `quarantine` (reason unknown_author), not here.
with final as (
    select * from stg_posts_resolved where author_id is not null
)

select * from final
