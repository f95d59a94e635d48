{% import "_history.sql" as h %}
-- Put back the rows of one history table that aximport deleted: every backup row whose key is
-- not live and whose job (or parent row) exists now. Restoring by key, not "jobs with no
-- history now", also brings back rows of a job that ran during the import window. Run once
-- per table, parents first; if the database refuses the set (a foreign key, a unique index, a
-- trigger), restore_row.sql and archive_row.sql take the rows one by one.
-- The backup is kept: verify_history drops it once every row is accounted for.
-- Context: database, t, restore_changed_jobs (the changed jobs are marked first: mark_changed_jobs.sql).
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
-- No key: exact duplicates are rows of their own. Each distinct row goes back as many times as
-- the backup holds it more often than the live table does (up to 100 copies; verify_history
-- counts the same way and fails on any copy short).
{% set held = h.parent_exists(t, 'b') ~ ((' AND NOT ' ~ h.changed_job('b')) if t.parent == 'event' and not restore_changed_jobs else '') %}
INSERT INTO {{ t.q(t.live) }} ({{ t.column_list() }})
SELECT {{ t.column_list('m') }}
FROM (
    SELECT {{ t.column_list('g') }}, g.[ds_replication_copies] - {{ h.copies(t, 'g', t.live, 'l') }} AS [missing]
    FROM {{ h.held_copies(t, held) }} AS g
) AS m
INNER JOIN {{ h.copy_numbers() }} AS k ON k.[copy] <= m.[missing];
{% endif %}
SET @restored_rows = @@ROWCOUNT;
{% if t.identity %}SET IDENTITY_INSERT {{ t.q(t.live) }} OFF;
{% endif %}
COMMIT TRANSACTION;
SELECT @restored_rows AS restored_rows;
