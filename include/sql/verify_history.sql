-- After a completed import and restore, account for every backup row: live again, or its
-- job is gone from the slave (removed on the master) or held back as changed. Rows of the
-- latter two move to the archive table, never deleted. Only when no row is unaccounted for
-- are the backup tables dropped; otherwise they stay for the next run and this task fails.
-- Context: database, tables.
USE {{ database }};
SET XACT_ABORT ON;
SET NOCOUNT ON;
DECLARE @archived_rows int;
DECLARE @archived_detail_rows int;
DECLARE @lost_rows int;
DECLARE @lost_detail_rows int;
SET @archived_rows = 0;
SET @archived_detail_rows = 0;
SET @lost_rows = 0;
SET @lost_detail_rows = 0;
BEGIN TRANSACTION;
{% include "fingerprint_table.sql" %}
{% for t in tables %}
INSERT INTO {{ t.q(t.archive) }} ({{ t.column_list() }})
SELECT {{ t.column_list('b') }} FROM {{ t.q(t.backup) }} AS b
WHERE
    NOT EXISTS (SELECT 1 FROM {{ t.q(t.live) }} AS l WHERE {{ t.match('l', 'b') }})
    AND NOT EXISTS (SELECT 1 FROM {{ t.q(t.archive) }} AS a WHERE {{ t.match('a', 'b') }})
    AND (
        NOT EXISTS (
            SELECT 1 FROM {{ t.q(t.parent) }} AS p
            WHERE p.{{ t.q(t.parent_key) }} = b.{{ t.q(t.parent_key) }}
        )
{% if loop.first %}        OR EXISTS (
            SELECT 1 FROM [ds_replication_fingerprint] AS f
            WHERE f.[event_id] = b.[event_id] AND f.[changed] = 1
        )
{% endif %}    );
{% if loop.first %}SET @archived_rows = @@ROWCOUNT;
{% else %}SET @archived_detail_rows = @archived_detail_rows + @@ROWCOUNT;
{% endif %}
{% endfor %}
{% for t in tables %}
SELECT {% if loop.first %}@lost_rows{% else %}@lost_detail_rows{% endif %} = COUNT(*)
FROM {{ t.q(t.backup) }} AS b
WHERE
    NOT EXISTS (SELECT 1 FROM {{ t.q(t.live) }} AS l WHERE {{ t.match('l', 'b') }})
    AND NOT EXISTS (SELECT 1 FROM {{ t.q(t.archive) }} AS a WHERE {{ t.match('a', 'b') }});
{% endfor %}
IF @lost_rows = 0 AND @lost_detail_rows = 0
    BEGIN
{% for t in tables %}        DROP TABLE {{ t.q(t.backup) }};
{% endfor %}        DROP TABLE [ds_replication_fingerprint];
    END;
COMMIT TRANSACTION;
SELECT
    @archived_rows AS archived_rows,
    @archived_detail_rows AS archived_detail_rows,
    @lost_rows AS lost_rows,
    @lost_detail_rows AS lost_detail_rows;
