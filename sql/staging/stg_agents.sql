-- Agents: one row per id, merged field by field from every copy (see sql/macros/merged_copies.sql): a profile or
-- an agents file is a complete record, an author object embedded in a post or comment a partial observation.
-- tests:
--   unique: id
--   not_null: id
with merged as (
    select * from merged_copies('raw_agents', 'id')
),

final as (
    select
        id,
        name,
        description,
        karma,
        created_at,
        is_claimed,
        is_active,
        follower_count,
        following_count,
        avatar_url,
        owner_x_handle,
        first_seen_at,
        last_seen_at,
        deleted_at,
        _source.observed_at as observed_at,
        copies,
        complete_copies,
        _source.drop_seq as drop_seq,
        _source.file as source_file,
        _source.line as source_line,
        _source.path as source_path
    from merged
)

select * from final
