{% import "_history.sql" as h %}
-- Put back the rows of one history table that aximport deleted: every backup row whose key is
-- not live and whose job (or parent row) exists now. Restoring by key, not "jobs with no
-- history now", also brings back rows of a job that ran during the import window. Run once
-- per table, parents first; if the database refuses the set (a foreign key, a unique index, a
-- trigger), restore_row.sql and archive_row.sql take the rows one by one.
-- The backup is kept: verify_history drops it once every row is accounted for.
-- Context: database, t, copy_digits, restore_changed_jobs (the changed jobs are marked first: mark_changed_jobs.sql).
USE {{ database }};
SET XACT_ABORT ON;
SET NOCOUNT ON;
DECLARE @restored_rows int;
BEGIN TRANSACTION;
{% if t.identity %}SET IDENTITY_INSERT {{ t.q(t.live) }} ON;
{% endif %}
{% if t.has_key %}
INSERT INTO {{ t.q(t.live) }} ({{ t.column_list() }})
SELECT {{ t.column_list('b') }} FROM {{ t.q(t.backup) }} AS b
WHERE {{ h.restorable(t, "b", restore_changed_jobs) }};
{% else %}
-- No key: exact duplicates are rows of their own. Each held row goes back as many times as the
-- backup holds it more often than the live table does (copy_digits: enough for the most copies
-- a row lacks; verify_history counts the same way and fails on any copy short).
{{ h.restore_copies(t, h.held_restorable(t, 'b', restore_changed_jobs), copy_digits) }}
{% endif %}
SET @restored_rows = @@ROWCOUNT;
{% if t.identity %}SET IDENTITY_INSERT {{ t.q(t.live) }} OFF;
{% endif %}
COMMIT TRANSACTION;
SELECT @restored_rows AS restored_rows;
