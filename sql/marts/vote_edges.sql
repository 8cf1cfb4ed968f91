-- The vote graph, where votes exist: an edge from each voter to the author of what it voted on, with the count of
-- up- and down-votes. Self-votes are dropped.
-- tests:
--   unique: source_id, target_id
--   not_null: source_id, target_id
with targets as (
    select v.voter_id, p.author_id as target_id, v.value, v.created_at
    from votes as v
    join posts as p on v.target_type = 'post' and p.id = v.target_id
    union all
    select v.voter_id, c.author_id as target_id, v.value, v.created_at
    from votes as v
    join comments as c on v.target_type = 'comment' and c.id = v.target_id
),

final as (
    select
        voter_id as source_id,
        target_id,
        count(*) filter (where value > 0) as upvotes,
        count(*) filter (where value < 0) as downvotes,
        min(created_at) as first_at,
        max(created_at) as last_at
    from targets
    where voter_id <> target_id and target_id is not null
    group by voter_id, target_id
)

select * from final
