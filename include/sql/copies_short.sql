{% import "_history.sql" as h %}
-- A table with no key: the most copies of one held row the live table lacks (restore_history
-- and restore_row number the copies they put back up to it).
-- Context: t.
SELECT ISNULL(MAX(m.[missing]), 0) AS most
FROM {{ h.short_copies(t, '') }} AS m;
