-- fragment of: item_mentions
-- Near-identical texts as items (only when SET VARIABLE extract_duplicates = true): each cluster of
-- `duplicate_texts` is the item `duplicate:<fingerprint>`, used by every post and comment of the cluster that has
-- an author. Same columns as item_mentions.
select distinct 'duplicate:' || fingerprint as item, 'duplicate' as kind, content_type, content_id, post_id,
       agent_id, created_at
from duplicate_texts
where getvariable('extract_duplicates') and agent_id is not null
