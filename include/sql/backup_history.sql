{% import "_history.sql" as h %}
-- Back up the slave's job history before aximport deletes it (a snapshot; the capture
-- triggers import_jobs arms catch what is written after it, at the moment it is deleted).
-- Unlike the seed article, a backup left by a failed night is never dropped: it may be the
-- only copy of history lost that night. A live row replaces its own older copy; a held row
-- whose key the DS has given to another row since is a conflict and moves to the archive
-- with its detail rows, never deleted.
-- Context: database, tables (catalog.HistoryTable, parents first), fingerprints {event_id: sha256}.
USE {{ database }};
SET XACT_ABORT ON;
SET NOCOUNT ON;
DECLARE @leftover_rows int;
DECLARE @backed_up_rows int;
DECLARE @conflict_rows int;
SET @conflict_rows = 0;
BEGIN TRANSACTION;
SELECT @leftover_rows = COUNT(*) FROM {{ tables[0].q(tables[0].backup) }};
{% set parent = tables[0] %}
{% for t in tables[1:] %}
{{ h.archive_children_of_conflicts(t, parent, parent.q(parent.live), 'l') }}
{% endfor %}
{% for t in tables %}
{{ h.archive_conflicts(t, t.q(t.live), 'l') }}
{% if loop.first %}SET @conflict_rows = @@ROWCOUNT;
{% endif %}
DELETE b FROM {{ t.q(t.backup) }} AS b
WHERE EXISTS (SELECT 1 FROM {{ t.q(t.live) }} AS l WHERE {{ t.match('l', 'b') }});
INSERT INTO {{ t.q(t.backup) }} ({{ t.column_list() }})
SELECT {{ t.column_list() }} FROM {{ t.q(t.live) }};
{% if loop.first %}SET @backed_up_rows = @@ROWCOUNT;
{% endif %}
{% endfor %}
{% for event_id, fingerprint in fingerprints.items() %}
INSERT INTO [dbo].[ds_replication_fingerprint] ([event_id], [fingerprint])
SELECT {{ event_id | int }} AS [event_id], '{{ fingerprint }}' AS [fingerprint]
WHERE NOT EXISTS (SELECT 1 FROM [dbo].[ds_replication_fingerprint] WHERE [event_id] = {{ event_id | int }});
{% endfor %}
COMMIT TRANSACTION;
SELECT
    @leftover_rows AS leftover_rows,
    @backed_up_rows AS backed_up_rows,
    @conflict_rows AS conflict_rows,
    (SELECT COUNT(*) FROM {{ tables[0].q(tables[0].backup) }}) AS held_rows,
    (SELECT COUNT(*) FROM {{ tables[0].q(tables[0].live) }}) AS live_rows;
