-- Votes: one row per (voter, target), the copy observed last.
-- tests:
--   unique: voter_id, target_type, target_id
--   not_null: voter_id, target_id
with ranked as (
    select
        *,
        row_number() over (
            partition by voter_id, target_type, target_id
            order by copy_order(_observed_at, _partial, _drop_seq, _file, _line, _path) desc
        ) as _copy_rank
    from raw_votes
    where _drop_seq in (select drop_seq from finished_drops)
),

final as (
    select
        voter_id,
        target_type,
        target_id,
        value,
        created_at,
        _observed_at as observed_at,
        _drop_seq as drop_seq,
        _file as source_file,
        _line as source_line,
        _path as source_path
    from ranked
    where _copy_rank = 1
)

select * from final
