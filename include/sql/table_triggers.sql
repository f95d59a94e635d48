-- The triggers on a table (the DS's own and a site's), with their state, and whether
-- sp_settriggerorder made one the First AFTER DELETE trigger. Context: table.
SELECT
    tr.name,
    tr.is_disabled,
    CASE
        WHEN EXISTS (
            SELECT 1 FROM sys.trigger_events AS e
            WHERE e.object_id = tr.object_id AND e.type_desc = N'DELETE' AND e.is_first = 1
        ) THEN 1
        ELSE 0
    END AS first_on_delete
FROM sys.triggers AS tr
WHERE tr.parent_id = OBJECT_ID(N'dbo.{{ table | identifier }}')
ORDER BY tr.name;
