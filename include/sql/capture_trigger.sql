{% import "_history.sql" as h %}
-- Armed by import_jobs just before aximport: every history row the import's delete removes
-- is copied into the backup in the same transaction as the delete, with its last content.
-- Rows written after backup_history are kept that way, not lost or restored stale. The body
-- is kept minimal: an error in it rolls back the DS's delete (nothing is dropped).
-- CREATE TRIGGER must be the first statement of its batch: this script is run alone.
-- Context: t (the history table), children (its detail tables).
CREATE TRIGGER [dbo].{{ t.capture_trigger | qn }}
ON {{ t.q(t.live) }}
AFTER DELETE
AS
BEGIN
    SET NOCOUNT ON;
{% for c in children %}
    INSERT INTO {{ c.q(c.archive) }} ({{ h.archive_columns(c) }})
    SELECT {{ c.column_list('c') }}, N'conflict: its parent row''s key was given to another row' AS [ds_replication_reason], GETDATE() AS [ds_replication_archived_at]
    FROM {{ c.q(c.backup) }} AS c
    WHERE EXISTS (
        SELECT 1 FROM {{ t.q(t.backup) }} AS b
        WHERE b.{{ c.parent_key | qn }} = c.{{ c.parent_key | qn }}
            AND {{ h.conflict(t, 'b', 'deleted', 'd') }}
    );
    DELETE c FROM {{ c.q(c.backup) }} AS c
    WHERE EXISTS (
        SELECT 1 FROM {{ t.q(t.backup) }} AS b
        WHERE b.{{ c.parent_key | qn }} = c.{{ c.parent_key | qn }}
            AND {{ h.conflict(t, 'b', 'deleted', 'd') }}
    );
{% endfor %}
    INSERT INTO {{ t.q(t.archive) }} ({{ h.archive_columns(t) }})
    SELECT {{ t.column_list('b') }}, N'conflict: its key was given to another row' AS [ds_replication_reason], GETDATE() AS [ds_replication_archived_at]
    FROM {{ t.q(t.backup) }} AS b
    WHERE {{ h.conflict(t, 'b', 'deleted', 'd') }};
    DELETE b FROM {{ t.q(t.backup) }} AS b
    WHERE EXISTS (SELECT 1 FROM deleted AS d WHERE {{ t.match('d', 'b') }});
    INSERT INTO {{ t.q(t.backup) }} ({{ t.column_list() }})
    SELECT {{ t.column_list('d') }} FROM deleted AS d;
END;
