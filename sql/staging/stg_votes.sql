-- Votes: one row per (voter, target), the copy observed last. Most votes have one copy, which is the row as it
-- stands: only the votes with several copies (`repeated`) are ranked.
-- tests:
--   unique: voter_id, target_type, target_id
--   not_null: voter_id, target_id
with observed as not materialized (
    select *
    from raw_votes
    where _drop_seq in (select drop_seq from finished_drops)
),

repeated as (
    select voter_id, target_type, target_id
    from observed
    group by voter_id, target_type, target_id
    having count(*) > 1
),

single as (
    select *
    from observed
    anti join repeated
        on observed.voter_id is not distinct from repeated.voter_id
        and observed.target_type is not distinct from repeated.target_type
        and observed.target_id is not distinct from repeated.target_id
),

ranked as (
    select
        *,
        row_number() over (
            partition by voter_id, target_type, target_id
            order by copy_order(_observed_at, _partial, _drop_seq, _file, _line, _path) desc
        ) as _copy_rank
    from observed
    semi join repeated
        on observed.voter_id is not distinct from repeated.voter_id
        and observed.target_type is not distinct from repeated.target_type
        and observed.target_id is not distinct from repeated.target_id
),

latest as (
    select * from single
    union all
    select * exclude (_copy_rank) from ranked where _copy_rank = 1
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
    from latest
)

select * from final
