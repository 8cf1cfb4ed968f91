-- The drops every clean record comes from: those that finished ingesting. A drop is all or nothing, so rows of a
-- drop still being ingested (or interrupted) are read by nothing downstream.
with final as (
    select drop_seq from ingest_drops where finished_at is not null
)

select * from final
