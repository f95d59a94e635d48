-- Put back the history rows aximport deleted: every backup row whose primary key is not live
-- and whose job (or parent row) exists now. Restoring by primary key, not "jobs with no
-- history now", also brings back rows of a job that ran during the import window.
-- The backup is kept: verify_history drops it once every row is accounted for.
-- Context: database, tables, changed_event_ids, restore_changed_jobs.
USE {{ database }};
SET XACT_ABORT ON;
SET NOCOUNT ON;
DECLARE @restored_rows int;
DECLARE @restored_detail_rows int;
SET @restored_rows = 0;
SET @restored_detail_rows = 0;
BEGIN TRANSACTION;
{% include "fingerprint_table.sql" %}
{% for event_id in changed_event_ids %}
UPDATE [ds_replication_fingerprint] SET [changed] = 1 WHERE [event_id] = {{ event_id | int }};
{% endfor %}
{% for t in tables %}
{% if t.identity %}SET IDENTITY_INSERT {{ t.q(t.live) }} ON;
{% endif %}
INSERT INTO {{ t.q(t.live) }} ({{ t.column_list() }})
SELECT {{ t.column_list('b') }} FROM {{ t.q(t.backup) }} AS b
WHERE
    NOT EXISTS (SELECT 1 FROM {{ t.q(t.live) }} AS l WHERE {{ t.match('l', 'b') }})
{% if loop.first and not restore_changed_jobs %}    AND NOT EXISTS (
        SELECT 1 FROM [ds_replication_fingerprint] AS f
        WHERE f.[event_id] = b.[event_id] AND f.[changed] = 1
    )
{% endif %}    AND EXISTS (
        SELECT 1 FROM {{ t.q(t.parent) }} AS p
        WHERE p.{{ t.q(t.parent_key) }} = b.{{ t.q(t.parent_key) }}
    );
{% if loop.first %}SET @restored_rows = @@ROWCOUNT;
{% else %}SET @restored_detail_rows = @restored_detail_rows + @@ROWCOUNT;
{% endif %}
{% if t.identity %}SET IDENTITY_INSERT {{ t.q(t.live) }} OFF;
{% endif %}
{% endfor %}
COMMIT TRANSACTION;
SELECT
    @restored_rows AS restored_rows,
    @restored_detail_rows AS restored_detail_rows,
    (
        SELECT COUNT(*) FROM {{ tables[0].q(tables[0].backup) }} AS b
        WHERE NOT EXISTS (SELECT 1 FROM [event] AS e WHERE e.[event_id] = b.[event_id])
    ) AS job_gone_rows,
    (
        SELECT COUNT(*) FROM {{ tables[0].q(tables[0].backup) }} AS b
        INNER JOIN [ds_replication_fingerprint] AS f ON b.[event_id] = f.[event_id]
        WHERE f.[changed] = 1
    ) AS changed_job_rows,
    (SELECT COUNT(*) FROM {{ tables[0].q(tables[0].backup) }}) AS held_rows;
