{% import "_history.sql" as h %}
-- After a completed import and restore, account for every backup row: live again (the same row,
-- perhaps updated since), or moved to the archive with its reason: its key now belongs to another
-- row (a conflict), its job is gone from the slave (removed on the master), or its job changed
-- and its history is held back. Only when no row is unaccounted for are the capture triggers and
-- the backup tables dropped; otherwise they stay for the next run and this task fails.
-- Context: database, tables.
USE {{ database }};
SET XACT_ABORT ON;
SET NOCOUNT ON;
DECLARE @archived_rows int;
DECLARE @archived_detail_rows int;
DECLARE @conflict_rows int;
DECLARE @lost_rows int;
DECLARE @lost_detail_rows int;
SET @archived_rows = 0;
SET @archived_detail_rows = 0;
SET @conflict_rows = 0;
SET @lost_rows = 0;
SET @lost_detail_rows = 0;
BEGIN TRANSACTION;
{% for t in tables %}
INSERT INTO {{ t.q(t.archive) }} ({{ h.archive_columns(t) }})
SELECT {{ t.column_list('b') }}, N'conflict: its key was given to another row' AS [ds_replication_reason], GETDATE() AS [ds_replication_archived_at]
FROM {{ t.q(t.backup) }} AS b
WHERE {{ h.conflict(t, 'b', t.q(t.live), 'l') }}
    AND NOT EXISTS (SELECT 1 FROM {{ t.q(t.archive) }} AS a WHERE {{ t.same_row('a', 'b') }});
{% if loop.first %}SET @conflict_rows = @@ROWCOUNT;
{% endif %}
INSERT INTO {{ t.q(t.archive) }} ({{ h.archive_columns(t) }})
SELECT
    {{ t.column_list('b') }},
    CASE
        WHEN NOT {{ h.parent_exists(t, 'b') }} THEN N'{{ 'job removed on the master' if loop.first else 'parent row gone' }}'
        ELSE N'job changed in the import: history held back'
    END AS [ds_replication_reason],
    GETDATE() AS [ds_replication_archived_at]
FROM {{ t.q(t.backup) }} AS b
WHERE
    NOT EXISTS (SELECT 1 FROM {{ t.q(t.live) }} AS l WHERE {{ t.match('l', 'b') }})
    AND NOT EXISTS (SELECT 1 FROM {{ t.q(t.archive) }} AS a WHERE {{ t.same_row('a', 'b') }})
    AND (
        NOT {{ h.parent_exists(t, 'b') }}
{% if loop.first %}        OR {{ h.changed_job('b') }}
{% endif %}    );
{% if loop.first %}SET @archived_rows = @@ROWCOUNT;
{% else %}SET @archived_detail_rows = @archived_detail_rows + @@ROWCOUNT;
{% endif %}
{% endfor %}
{% for t in tables %}
{% if t.has_key %}
SELECT {% if loop.first %}@lost_rows{% else %}@lost_detail_rows{% endif %} = COUNT(*)
FROM {{ t.q(t.backup) }} AS b
WHERE
    NOT EXISTS (SELECT 1 FROM {{ t.q(t.live) }} AS l WHERE {{ t.same_row('l', 'b') }})
    AND NOT EXISTS (SELECT 1 FROM {{ t.q(t.archive) }} AS a WHERE {{ t.same_row('a', 'b') }});
{% else %}
-- No key: every copy of an exact duplicate counts; the live table and the archive together
-- must hold each held row at least as often as the backup does.
SELECT {% if loop.first %}@lost_rows{% else %}@lost_detail_rows{% endif %} = ISNULL(SUM(
    g.[ds_replication_copies] - {{ h.copies(t, 'g', t.live, 'l') }} - {{ h.copies(t, 'g', t.archive, 'a') }}
), 0)
FROM {{ h.held_copies(t, '') }} AS g
WHERE g.[ds_replication_copies] > {{ h.copies(t, 'g', t.live, 'l') }} + {{ h.copies(t, 'g', t.archive, 'a') }};
{% endif %}
{% endfor %}
IF @lost_rows = 0 AND @lost_detail_rows = 0
    BEGIN
{% for t in tables %}        IF OBJECT_ID(N'dbo.{{ t.capture_trigger }}', N'TR') IS NOT NULL
            BEGIN
                DROP TRIGGER [dbo].{{ t.capture_trigger | qn }};
            END;
{% endfor %}
{% for t in tables %}        DROP TABLE {{ t.q(t.backup) }};
        IF OBJECT_ID(N'dbo.{{ t.uncaptured }}', N'U') IS NOT NULL
            BEGIN
                DROP TABLE {{ t.q(t.uncaptured) }};
            END;
{% endfor %}        DROP TABLE [dbo].[ds_replication_fingerprint];
        IF OBJECT_ID(N'dbo.ds_replication_import_window', N'U') IS NOT NULL
            BEGIN
                DROP TABLE [dbo].[ds_replication_import_window];
            END;
    END;
COMMIT TRANSACTION;
SELECT
    @archived_rows AS archived_rows,
    @archived_detail_rows AS archived_detail_rows,
    @conflict_rows AS conflict_rows,
    @lost_rows AS lost_rows,
    @lost_detail_rows AS lost_detail_rows;
