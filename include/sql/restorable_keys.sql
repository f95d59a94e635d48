{% import "_history.sql" as h %}
-- The keys of the held rows restore_history would put back, for a restore row by row.
-- Without a key, each held row once if the live table lacks any of its copies.
-- Context: database, t, restore_changed_jobs.
USE {{ database }};
{% if t.has_key %}
SELECT {{ t.key_list('b') }} FROM {{ t.q(t.backup) }} AS b
WHERE {{ h.restorable(t, "b", restore_changed_jobs) }};
{% else %}
SELECT {{ t.key_list('m') }}
FROM {{ h.short_copies(t, h.held_restorable(t, 'b', restore_changed_jobs)) }} AS m
WHERE m.[missing] > 0;
{% endif %}
