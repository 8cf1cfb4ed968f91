-- Every use of a propagation item in a post (title, content, url) or a comment (content): one row per
-- (item, content). Always extracted: URLs (normalised: lower-case scheme and host, no trailing slash, no fragment,
-- no tracking parameters), hashtags (`#word`, case-folded) and submolt mentions (`m/name`, case-folded).
-- Prompt injections too: one item per payload family the detector finds in the text (`injection:override`, ...;
-- the macros injection_text and injection_families, sql/macros/), so that the variants of one kind of injection are one item.
-- Where configured (SET VARIABLE extract_code_spans / extract_memes / extract_duplicates), code spans (```...```,
-- hashed: "skills"), recurring word n-grams ("memes") and near-identical texts ("duplicates") as well; see
-- item_memes.sql and item_duplicates.sql for their thresholds.
-- tests:
--   unique: item, content_type, content_id
--   not_null: item, content_id
with texts as (
    select 'post' as content_type, id as content_id, id as post_id, author_id as agent_id, created_at,
           concat_ws(' ', title, content, url) as body
    from posts
    union all
    select 'comment', id, post_id, author_id, created_at, content
    from comments
    where not is_deleted
),

raw_urls as (
    select content_type, content_id, post_id, agent_id, created_at,
           unnest(regexp_extract_all(body, 'https?://[^\s<>"''()\[\]{}|\\^`]+')) as url
    from texts
    where body ilike '%http%'
),

url_parts as (
    select
        *,
        regexp_extract(
            regexp_replace(url, '[.,;:!?]+$', ''),
            '^([A-Za-z]+)://([^/?#]+)([^?#]*)(\?[^#]*)?',
            ['scheme', 'host', 'path', 'query']
        ) as part
    from raw_urls
),

urls as (
    select
        content_type, content_id, post_id, agent_id, created_at,
        'url' as kind,
        lower(part.scheme) || '://' || lower(part.host) || regexp_replace(part.path, '/+$', '')
        || coalesce(
            '?' || nullif(array_to_string(list_filter(
                string_split(ltrim(part.query, '?'), '&'),
                lambda p: p <> '' and not regexp_matches(lower(p), '^(utm_[^=]*|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid|ref|ref_src)(=|$)')
            ), '&'), ''),
            ''
        ) as item
    from url_parts
    where part.host <> ''
),

-- Hashtags and mentions are looked for in the text with its URLs blanked out, so that `#fragment` and `/m/path`
-- inside a URL are not taken for items.
plain as (
    select content_type, content_id, post_id, agent_id, created_at,
           regexp_replace(body, 'https?://\S+', ' ', 'g') as body
    from texts
    where body like '%#%' or body like '%m/%'
),

hashtags as (
    select content_type, content_id, post_id, agent_id, created_at, 'hashtag' as kind,
           '#' || lower(unnest(regexp_extract_all(body, '(?:^|[^\pL\pN_&/])#(\pL[\pL\pN_]*)', 1))) as item
    from plain
    where body like '%#%'
),

mentions as (
    select content_type, content_id, post_id, agent_id, created_at, 'mention' as kind,
           'm/' || lower(unnest(regexp_extract_all(body, '(?:^|[^\pL\pN_/])m/([\pL\pN_-]+)', 1))) as item
    from plain
    where body like '%m/%'
),

code_spans as (
    select content_type, content_id, post_id, agent_id, created_at, 'code' as kind,
           'code:' || md5(trim(regexp_replace(span, '\s+', ' ', 'g'))) as item
    from (
        select *, unnest(regexp_extract_all(body, '```(?:[A-Za-z0-9_+-]*\n)?([\s\S]*?)```', 1)) as span
        from texts
        where getvariable('extract_code_spans') and body like '%```%'
    )
    where length(trim(regexp_replace(span, '\s+', ' ', 'g'))) >= getvariable('code_span_min_chars')
),

injections as (
    select content_type, content_id, post_id, agent_id, created_at, 'injection' as kind,
           'injection:' || unnest(injection_families(body, prepared)) as item
    from (select *, injection_text(body) as prepared from texts where getvariable('extract_injections'))
),

final as (
    select distinct item, kind, content_type, content_id, post_id, agent_id, created_at
    from (
        select * from urls
        union all select * from hashtags
        union all select * from mentions
        union all select * from code_spans
        union all select * from injections
    )
    where agent_id is not null
)

select * from final
