-- Everything that did not make it into the clean views, and why: rows rejected at ingest (quarantine_rows) and
-- records whose references cannot be resolved against what has been ingested so far. The second kind heals by
-- itself when a later drop brings the missing post or agent.
with rejected_at_ingest as (
    select
        drop_seq,
        file,
        line,
        entity,
        reason,
        field,
        detail,
        raw,
        path
    from quarantine_rows
    where drop_seq in (select drop_seq from finished_drops)
),

posts_unresolved as (
    select
        p.drop_seq,
        p.source_file as file,
        p.source_line as line,
        'posts' as entity,
        'unknown_author' as reason,
        'author_name' as field,
        p.author_name as detail,
        cast(to_json(r) as varchar) as raw,
        p.source_path as path
    from stg_posts_resolved as p
    join raw_posts as r
        on r._drop_seq = p.drop_seq and r._file = p.source_file and r._line = p.source_line
        and r._path is not distinct from p.source_path
    where p.author_id is null and not p.author_deleted
),

comments_unresolved as (
    select
        c.drop_seq,
        c.source_file as file,
        c.source_line as line,
        'comments' as entity,
        c.reference_problem as reason,
        case c.reference_problem when 'unknown_post' then 'post_id' else 'author_name' end as field,
        case c.reference_problem when 'unknown_post' then c.post_id else c.author_name end as detail,
        cast(to_json(r) as varchar) as raw,
        c.source_path as path
    from stg_comments_resolved as c
    join raw_comments as r
        on r._drop_seq = c.drop_seq and r._file = c.source_file and r._line = c.source_line
        and r._path is not distinct from c.source_path
    where c.reference_problem is not null
),

tasks_unresolved as (
    select
        t.drop_seq,
        t.source_file as file,
        t.source_line as line,
        'tasks' as entity,
        t.reference_problem as reason,
        'post_id' as field,
        t.post_id as detail,
        cast(to_json(r) as varchar) as raw,
        t.source_path as path
    from stg_tasks_resolved as t
    join raw_tasks as r
        on r._drop_seq = t.drop_seq and r._file = t.source_file and r._line = t.source_line
        and r._path is not distinct from t.source_path
    where t.reference_problem is not null
),

final as (
    select * from rejected_at_ingest
    union all
    select * from posts_unresolved
    union all
    select * from comments_unresolved
    union all
    select * from tasks_unresolved
)

select * from final
