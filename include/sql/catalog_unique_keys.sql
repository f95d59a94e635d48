-- The columns of a table's primary key and unique indexes, primary key first, each in key
-- order (included columns are not part of a key). Context: table.
SELECT
    i.name AS index_name,
    i.is_primary_key,
    c.name AS column_name
FROM sys.indexes AS i
INNER JOIN sys.index_columns AS ic ON i.object_id = ic.object_id AND i.index_id = ic.index_id
INNER JOIN sys.columns AS c ON ic.object_id = c.object_id AND ic.column_id = c.column_id
WHERE
    i.object_id = OBJECT_ID(N'dbo.{{ table | identifier }}')
    AND i.is_unique = 1
    AND ic.is_included_column = 0
ORDER BY i.is_primary_key DESC, i.index_id ASC, ic.key_ordinal ASC;
