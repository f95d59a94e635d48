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
    {{ h.archive_children_of_conflicts(c, t, 'deleted', 'd') }}
{% endfor %}
    {{ h.archive_conflicts(t, 'deleted', 'd') }}
    DELETE b FROM {{ t.q(t.backup) }} AS b
    WHERE EXISTS (SELECT 1 FROM deleted AS d WHERE {{ t.match('d', 'b') }});
    INSERT INTO {{ t.q(t.backup) }} ({{ t.column_list() }})
    SELECT {{ t.column_list('d') }} FROM deleted AS d;
    -- what was captured, for the check at disarm (capture_check.sql)
    INSERT INTO {{ t.q(t.captured) }} ({{ t.identity_list() }})
    SELECT {{ t.identity_list('d') }} FROM deleted AS d;
END;
