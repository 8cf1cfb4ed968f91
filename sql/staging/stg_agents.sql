-- Agents: one row per id, the copy observed last (fetched_at/dump_date, else the later drop, else the later line).
with ranked as (
    select
        *,
        row_number() over (
            partition by id
            order by _observed_at desc nulls last, _drop_seq desc, _file desc, _line desc
        ) as _copy_rank,
        count(*) over (partition by id) as copies
    from raw_agents
    where _drop_seq in (select drop_seq from finished_drops)
),

final as (
    select
        id,
        name,
        description,
        karma,
        created_at,
        is_claimed,
        follower_count,
        following_count,
        avatar_url,
        owner_x_handle,
        first_seen_at,
        last_seen_at,
        _observed_at as observed_at,
        copies,
        _drop_seq as drop_seq,
        _file as source_file,
        _line as source_line
    from ranked
    where _copy_rank = 1
)

select * from final
