-- Back up the slave's job history before aximport deletes it.
-- Unlike the seed article, a backup left by a failed night is never dropped: it may be the
-- only copy of history lost that night. Live rows replace their own older copies (by
-- primary key); every other row stays until verify_history has accounted for it.
-- Context: database, tables (catalog.HistoryTable), fingerprints {event_id: sha256}.
USE {{ database }};
SET XACT_ABORT ON;
SET NOCOUNT ON;
DECLARE @leftover_rows int;
DECLARE @backed_up_rows int;
SET @leftover_rows = 0;
SET @backed_up_rows = 0;
BEGIN TRANSACTION;
{% for t in tables %}
IF OBJECT_ID(N'{{ t.backup }}', N'U') IS NULL
    BEGIN
        SELECT {{ t.create_list() }}
        INTO {{ t.q(t.backup) }}
        FROM {{ t.q(t.live) }}
        WHERE 1 = 0;
    END
{% if loop.first %}ELSE
    BEGIN
        SELECT @leftover_rows = COUNT(*) FROM {{ t.q(t.backup) }};
    END
{% endif %};
IF OBJECT_ID(N'{{ t.archive }}', N'U') IS NULL
    BEGIN
        SELECT {{ t.create_list() }}
        INTO {{ t.q(t.archive) }}
        FROM {{ t.q(t.live) }}
        WHERE 1 = 0;
    END;
DELETE b FROM {{ t.q(t.backup) }} AS b
WHERE EXISTS (SELECT 1 FROM {{ t.q(t.live) }} AS l WHERE {{ t.match('l', 'b') }});
INSERT INTO {{ t.q(t.backup) }} ({{ t.column_list() }})
SELECT {{ t.column_list() }} FROM {{ t.q(t.live) }};
{% if loop.first %}SET @backed_up_rows = @@ROWCOUNT;
{% endif %}
{% endfor %}
{% include "fingerprint_table.sql" %}
{% for event_id, fingerprint in fingerprints.items() %}
INSERT INTO [ds_replication_fingerprint] ([event_id], [fingerprint])
SELECT {{ event_id | int }} AS [event_id], '{{ fingerprint }}' AS [fingerprint]
WHERE NOT EXISTS (SELECT 1 FROM [ds_replication_fingerprint] WHERE [event_id] = {{ event_id | int }});
{% endfor %}
COMMIT TRANSACTION;
SELECT
    @leftover_rows AS leftover_rows,
    @backed_up_rows AS backed_up_rows,
    (SELECT COUNT(*) FROM {{ tables[0].q(tables[0].backup) }}) AS held_rows,
    (SELECT COUNT(*) FROM {{ tables[0].q(tables[0].live) }}) AS live_rows;
