-- fragment of: item_mentions
-- Word n-gram "memes" (only when SET VARIABLE extract_memes = true): every run of `meme_words` words in a post or
-- comment, kept when at most `meme_max_stopword_share` of its words are stop words and at least
-- `meme_min_adopters` distinct agents used it. Same columns as item_mentions.
with texts as (
    select 'post' as content_type, id as content_id, id as post_id, author_id as agent_id, created_at,
           concat_ws(' ', title, content) as body
    from posts
    where getvariable('extract_memes')
    union all
    select 'comment', id, post_id, author_id, created_at, content
    from comments
    where getvariable('extract_memes') and not is_deleted
),

words as (
    -- words of the prose only: URLs and code spans are items of their own
    select *, list_filter(regexp_split_to_array(lower(regexp_replace(regexp_replace(body, '```[\s\S]*?```', ' ', 'g'),
                                                                     'https?://\S+', ' ', 'g')), '[^\pL\pN'']+'),
                          lambda w: w <> '') as w
    from texts
),

grams as (
    select content_type, content_id, post_id, agent_id, created_at,
           list_slice(w, i, i + getvariable('meme_words') - 1) as gram
    from words, range(1, greatest(len(w) - getvariable('meme_words') + 2, 1)) as r(i)
),

stop_words as (
    select ['a', 'an', 'and', 'are', 'as', 'at', 'be', 'but', 'by', 'for', 'from', 'has', 'have', 'he', 'i', 'in',
            'is', 'it', 'its', 'of', 'on', 'or', 'that', 'the', 'this', 'to', 'was', 'we', 'were', 'will', 'with',
            'you', 'your', 'our', 'they', 'their', 'not', 'so', 'if', 'do', 'can', 'just', 'my', 'me', 'all'] as words
),

candidates as (
    select grams.*, 'meme:' || array_to_string(gram, ' ') as item
    from grams, stop_words
    where len(gram) = getvariable('meme_words')
      and len(list_filter(gram, lambda x: list_contains(stop_words.words, x))) / len(gram)
          <= getvariable('meme_max_stopword_share')
),

popular as (
    select item
    from candidates
    group by item
    having count(distinct agent_id) >= getvariable('meme_min_adopters')
),

final as (
    select distinct item, 'meme' as kind, content_type, content_id, post_id, agent_id, created_at
    from candidates
    where item in (select item from popular) and agent_id is not null
)

select * from final
