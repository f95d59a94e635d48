-- The columns of a table of the DS database, in table order, with what catalog.py needs to
-- tell stored columns from computed and rowversion ones, and each character column's collation
-- (NULL for the others). Context: table.
SELECT
    c.name,
    c.is_identity,
    c.is_computed,
    c.is_nullable,
    t.name AS type_name,
    c.max_length,
    c.[precision],
    c.[scale],
    c.collation_name
FROM sys.columns AS c
INNER JOIN sys.types AS t ON c.user_type_id = t.user_type_id
WHERE c.object_id = OBJECT_ID(N'dbo.{{ table | identifier }}')
ORDER BY c.column_id;
