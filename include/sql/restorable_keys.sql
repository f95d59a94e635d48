{% import "_history.sql" as h %}
-- The keys of the held rows restore_history would put back, for a restore row by row.
-- Context: database, t, restore_changed_jobs.
USE {{ database }};
SELECT {{ t.key_list('b') }} FROM {{ t.q(t.backup) }} AS b
WHERE {{ h.restorable(t, "b", restore_changed_jobs) }};
