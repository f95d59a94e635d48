{% import "_history.sql" as h %}
-- Adopt history held under the old names: event_schedule_backup, left by the seed article's
-- procedure (often by a failed night of it) or by this package before it had names of its own,
-- and this package's old event_schedule_archive. Their rows are copied, never moved: the old
-- tables are not changed or dropped. A row that is live (the same row) needs nothing; a row
-- whose key now belongs to another row goes to the archive; every other row is held in our
-- backup, to be restored or archived like any held row. Repeating it copies nothing twice.
-- Context: database, sources [(t, old backup or None, old archive or None)].
USE {{ database }};
SET XACT_ABORT ON;
SET NOCOUNT ON;
DECLARE @adopted_rows int;
DECLARE @adopted_detail_rows int;
DECLARE @adopted_archive_rows int;
SET @adopted_rows = 0;
SET @adopted_detail_rows = 0;
SET @adopted_archive_rows = 0;
BEGIN TRANSACTION;
{% for t, old_backup, old_archive in sources %}
{% if old_backup %}
INSERT INTO {{ t.q(t.archive) }} ({{ h.archive_columns(t) }})
SELECT {{ t.column_list('b') }}, N'conflict: adopted from {{ old_backup }}, its key was given to another row' AS [ds_replication_reason], GETDATE() AS [ds_replication_archived_at]
FROM {{ t.q(old_backup) }} AS b
WHERE {{ h.conflict(t, 'b', t.q(t.live), 'l') }}
    AND NOT EXISTS (SELECT 1 FROM {{ t.q(t.archive) }} AS a WHERE {{ t.same_row('a', 'b') }});
INSERT INTO {{ t.q(t.backup) }} ({{ t.column_list() }})
SELECT {{ t.column_list('b') }} FROM {{ t.q(old_backup) }} AS b
WHERE
    NOT EXISTS (SELECT 1 FROM {{ t.q(t.live) }} AS l WHERE {{ t.match('l', 'b') }})
    AND NOT EXISTS (SELECT 1 FROM {{ t.q(t.backup) }} AS k WHERE {{ t.match('k', 'b') }})
    AND NOT EXISTS (SELECT 1 FROM {{ t.q(t.archive) }} AS a WHERE {{ t.same_row('a', 'b') }});
{% if t.parent == "event" %}SET @adopted_rows = @@ROWCOUNT;
{% else %}SET @adopted_detail_rows = @adopted_detail_rows + @@ROWCOUNT;
{% endif %}
{% endif %}
{% if old_archive %}
INSERT INTO {{ t.q(t.archive) }} ({{ h.archive_columns(t) }})
SELECT {{ t.column_list('b') }}, N'adopted from {{ old_archive }}' AS [ds_replication_reason], GETDATE() AS [ds_replication_archived_at]
FROM {{ t.q(old_archive) }} AS b
WHERE NOT EXISTS (SELECT 1 FROM {{ t.q(t.archive) }} AS a WHERE {{ t.same_row('a', 'b') }});
SET @adopted_archive_rows = @adopted_archive_rows + @@ROWCOUNT;
{% endif %}
{% endfor %}
COMMIT TRANSACTION;
SELECT
    @adopted_rows AS adopted_rows,
    @adopted_detail_rows AS adopted_detail_rows,
    @adopted_archive_rows AS adopted_archive_rows;
