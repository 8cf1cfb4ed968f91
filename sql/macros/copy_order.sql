-- The order in which copies of one record are preferred, as a sortable row: the larger wins. The copy observed
-- last (fetched_at, dump_date or the response's _downloaded_at) first; among copies observed at the same time, or
-- with no observation time at all, a complete record before a partial observation (a profile before the author
-- object embedded in a comment); then the later drop, file, line and place in the response.
copy_order(observed_at, partial, drop_seq, file, line, path) as (
    coalesce(observed_at, '-infinity'::timestamptz),
    not coalesce(partial, false),
    drop_seq,
    file,
    line,
    coalesce(path, '')
)
