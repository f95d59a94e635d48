{% import "_history.sql" as h %}
-- Armed by import_jobs just before aximport: every history row the import's delete removes
-- is copied into the backup in the same transaction as the delete, with its last content.
-- Rows written after backup_history are kept that way, not lost or restored stale. The body
-- is kept minimal: an error in it rolls back the DS's delete (nothing is dropped).
-- Each copy says who deleted the row (the deleting session's APP_NAME(), HOST_NAME(),
-- SUSER_SNAME(), @@SPID and GETDATE(): functions that cannot fail on data), so the run's
-- report can name the rows deleted by another session than aximport's.
-- CREATE TRIGGER must be the first statement of its batch: this script is run alone.
-- Context: t (the history table), children (its detail tables).
CREATE TRIGGER [dbo].{{ t.capture_trigger | qn }}
ON {{ t.q(t.live) }}
AFTER DELETE
AS
BEGIN
    SET NOCOUNT ON;
    -- a session's SET ROWCOUNT would limit the copies below
    SET ROWCOUNT 0;
{% for c in children %}
    {{ h.archive_children_of_conflicts(c, t, 'deleted', 'd') }}
{% endfor %}
    {{ h.archive_conflicts(t, 'deleted', 'd') }}
{% if t.unreadable %}
    -- An AFTER trigger cannot read text, ntext or image from deleted (Msg 311): the backup's own
    -- copy of the row, refreshed when the capture was armed (lob_refresh.sql), keeps those
    -- columns and deleted gives the others. A row with no copy (written after arming) is
    -- archived without them, with the reason: never put back with those columns blank.
    DELETE b FROM {{ t.q(t.backup) }} AS b
    WHERE
        EXISTS (SELECT 1 FROM deleted AS d WHERE {{ t.match('d', 'b') }})
        AND NOT EXISTS (SELECT 1 FROM deleted AS d WHERE {{ t.same_row('d', 'b', True) }});
    -- a newer version of a held row (its other columns changed): the copy's LOB columns with it
    INSERT INTO {{ t.q(t.backup) }} ({{ t.readable_list() }}, {{ t.unreadable_list() }}, {{ t.captured_by_list() }})
    SELECT {{ t.readable_list('d') }}, {{ t.unreadable_list('b') }}, {{ t.captured_by_values() }}
    FROM deleted AS d
    INNER JOIN {{ t.q(t.backup) }} AS b ON {{ t.match('d', 'b') }}
    WHERE NOT EXISTS (SELECT 1 FROM {{ t.q(t.backup) }} AS v WHERE {{ t.same_values('d', 'v') }});
    DELETE b FROM {{ t.q(t.backup) }} AS b
    WHERE
        EXISTS (SELECT 1 FROM deleted AS d WHERE {{ t.match('d', 'b') }})
        AND NOT EXISTS (SELECT 1 FROM deleted AS d WHERE {{ t.same_values('d', 'b') }});
    INSERT INTO {{ t.q(t.archive) }} ({{ t.readable_list() }}, [ds_replication_reason], [ds_replication_archived_at])
    SELECT {{ t.readable_list('d') }}, N'{{ t.uncaptured_reason }}' AS [ds_replication_reason], GETDATE() AS [ds_replication_archived_at]
    FROM deleted AS d
    WHERE NOT EXISTS (SELECT 1 FROM {{ t.q(t.backup) }} AS b WHERE {{ t.match('d', 'b') }});
{% else %}
    DELETE b FROM {{ t.q(t.backup) }} AS b
    WHERE EXISTS (SELECT 1 FROM deleted AS d WHERE {{ t.match('d', 'b') }});
    INSERT INTO {{ t.q(t.backup) }} ({{ t.column_list() }}, {{ t.captured_by_list() }})
    SELECT {{ t.column_list('d') }}, {{ t.captured_by_values() }} FROM deleted AS d;
{% endif %}
    -- what was captured, for the check at disarm (capture_check.sql)
    INSERT INTO {{ t.q(t.captured) }} ({{ t.identity_list() }})
    SELECT {{ t.identity_list('d') }} FROM deleted AS d;
END;
