-- The triggers on a table (the DS's own and a site's), with their state. Context: table.
SELECT
    name,
    is_disabled
FROM sys.triggers
WHERE parent_id = OBJECT_ID(N'dbo.{{ table | identifier }}')
ORDER BY name;
