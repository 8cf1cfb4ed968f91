-- Task events: threads in which an agent asked for something to be done, with who worked on it, how it went, and
-- the covariates fixed before anyone answered (for the matched comparison).
-- Source: the drop's `tasks` annotations where there are any (outcome_source = 'annotated'). Without them, a
-- heuristic detector like the study's (outcome_source = 'heuristic'): a post whose thread has at least
-- `task_min_comments` comments from at least `task_min_participants` agents besides the author, spans at least
-- `task_min_span_hours`, and whose title or content has a technical keyword. Its heuristic outcome: quality is the
-- mean of three signs of a solution (a contributor posted code; the requester came back with thanks/solved/works;
-- a contributor's reply scored above zero), success when quality >= `task_success_threshold`.
-- tests:
--   unique: task_id
--   not_null: task_id, post_id
--   references: post_id -> posts.id
with keywords as (
    select ['code', 'bug', 'error', 'function', 'python', 'script', 'api', 'debug', 'fix', 'install', 'deploy',
            'compile', 'compiler', 'query', 'sql', 'regex', 'parse', 'parser', 'build', 'test', 'crash', 'exception',
            'algorithm', 'implement', 'optimize', 'library', 'json', 'server', 'database', 'rust', 'javascript',
            'typescript', 'golang', 'endpoint', 'stacktrace', 'traceback', 'segfault', 'docker', 'kubernetes',
            'container', 'pipeline', 'runtime', 'method', 'class', 'module', 'package', 'dependency', 'framework',
            'index', 'schema', 'migration', 'cache', 'latency', 'throughput', 'benchmark', 'profiler', 'memoryleak',
            'thread', 'async', 'await', 'mutex', 'deadlock', 'refactor', 'unittest', 'pytest', 'coverage', 'lint',
            'typecheck', 'commit', 'branch', 'merge', 'rebase', 'release', 'version', 'config', 'yaml', 'csv',
            'duckdb', 'numpy', 'pandas', 'tensor', 'gradient', 'embedding', 'tokenizer', 'inference'] as words
),

thread_stats as (
    select
        p.id as post_id,
        count(c.id) as comments,
        count(distinct c.author_id) filter (where c.author_id <> p.author_id) as participants,
        epoch(max(c.created_at) - p.created_at) / 3600.0 as span_hours
    from posts as p
    join comments as c on c.post_id = p.id
    group by p.id, p.author_id, p.created_at
),

post_words as (
    select
        p.id as post_id,
        list_filter(regexp_split_to_array(lower(concat_ws(' ', p.title, p.content)), '[^a-z0-9_]+'), lambda w: w <> '')
            as words
    from posts as p
),

keyword_density as (
    select
        post_words.post_id,
        len(post_words.words) as word_count,
        case when len(post_words.words) > 0
            then len(list_filter(post_words.words, lambda w: list_contains(keywords.words, w))) / len(post_words.words)
            else 0 end as keyword_density
    from post_words, keywords
),

annotated as (
    select
        t.id as task_id, t.post_id, t.requester_id, t.created_at, t.category, t.resolved, t.resolved_at, t.quality,
        'annotated' as outcome_source
    from tasks as t
),

detected as (
    select p.id as post_id, p.author_id as requester_id, p.created_at
    from posts as p
    join thread_stats as s on s.post_id = p.id
    join keyword_density as k on k.post_id = p.id
    where (select count(*) from tasks) = 0
      and s.comments >= getvariable('task_min_comments')
      and s.participants >= getvariable('task_min_participants')
      and s.span_hours >= getvariable('task_min_span_hours')
      and k.keyword_density > 0
),

heuristic_signs as (
    select
        d.post_id,
        bool_or(c.author_id <> d.requester_id and c.content like '%```%') as code_reply,
        bool_or(c.author_id <> d.requester_id and coalesce(c.score, 0) > 0) as positive_reply,
        min(c.created_at) filter (
            where c.author_id = d.requester_id
              and regexp_matches(lower(c.content), '(thank|solved|works|fixed|perfect)')
              and c.created_at > (select min(o.created_at) from comments o where o.post_id = d.post_id and o.author_id <> d.requester_id)
        ) as acknowledged_at
    from detected as d
    join comments as c on c.post_id = d.post_id
    group by d.post_id
),

heuristic as (
    select
        'heuristic:' || d.post_id as task_id,
        d.post_id,
        d.requester_id,
        d.created_at,
        cast(null as varchar) as category,
        (cast(h.code_reply as int) + cast(h.positive_reply as int) + cast(h.acknowledged_at is not null as int)) / 3.0
            >= getvariable('task_success_threshold') as resolved,
        h.acknowledged_at as resolved_at,
        (cast(h.code_reply as int) + cast(h.positive_reply as int) + cast(h.acknowledged_at is not null as int)) / 3.0
            as quality,
        'heuristic' as outcome_source
    from detected as d
    join heuristic_signs as h on h.post_id = d.post_id
),

events as (
    select * from annotated
    union all
    select * from heuristic
),

contributors as (
    -- distinct agents other than the requester who commented in the thread before the task was resolved
    select e.task_id, count(distinct c.author_id) as contributors, count(c.id) as contributions
    from events as e
    join comments as c on c.post_id = e.post_id
    where c.author_id <> e.requester_id
      and (e.resolved_at is null or c.created_at < e.resolved_at)
    group by e.task_id
),

requester_history as (
    -- the requester's activity before the task was posed: pre-treatment by construction
    select e.task_id, count(x.created_at) as requester_prior_activity
    from events as e
    left join (
        select author_id, created_at from posts
        union all
        select author_id, created_at from comments
    ) as x on x.author_id = e.requester_id and x.created_at < e.created_at
    group by e.task_id
),

final as (
    select
        e.task_id,
        e.post_id,
        e.requester_id,
        e.created_at,
        e.category,
        e.outcome_source,
        coalesce(n.contributors, 0) as contributors,
        coalesce(n.contributions, 0) as contributions,
        case when coalesce(n.contributors, 0) >= 2 then 'multi'
             when n.contributors = 1 then 'single'
             else 'none' end as team,
        e.resolved,
        e.resolved_at,
        e.quality,
        p.submolt,
        length(coalesce(p.title, '') || coalesce(p.content, '')) as seed_length,
        coalesce(p.content, '') like '%```%' as code_present,
        k.keyword_density,
        hour(e.created_at) as hour,
        isodow(e.created_at) as weekday,
        a.karma as requester_karma,
        h.requester_prior_activity
    from events as e
    join posts as p on p.id = e.post_id
    left join keyword_density as k on k.post_id = e.post_id
    left join contributors as n on n.task_id = e.task_id
    left join requester_history as h on h.task_id = e.task_id
    left join agents as a on a.id = e.requester_id
)

select * from final
