{% import "_history.sql" as h %}
-- One row of restore_history.sql, for when the database refused the whole set: the row whose
-- key the parameters give (pymssql fills them in); without a key, every copy of it the live
-- table lacks.
-- Context: database, t, copy_digits, restore_changed_jobs.
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
WHERE {{ t.key_equals_params('b') }}
    AND {{ h.restorable(t, "b", restore_changed_jobs) }};
{% else %}
{{ h.restore_copies(t, t.key_equals_params('b') ~ ' AND ' ~ h.held_restorable(t, 'b', restore_changed_jobs), copy_digits) }}
{% endif %}
SET @restored_rows = @@ROWCOUNT;
{% if t.identity %}SET IDENTITY_INSERT {{ t.q(t.live) }} OFF;
{% endif %}
COMMIT TRANSACTION;
SELECT @restored_rows AS restored_rows;
