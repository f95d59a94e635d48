-- The columns of a table's primary key, in key order. Context: table.
-- INFORMATION_SCHEMA is spelled as SQL Server spells it: a server with a case-sensitive
-- collation finds its views only so.
-- noqa: disable=CP02
SELECT k.COLUMN_NAME AS key_column
FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS AS t
INNER JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE AS k
    ON t.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND t.TABLE_NAME = k.TABLE_NAME
WHERE t.TABLE_NAME = N'{{ table | identifier }}' AND t.CONSTRAINT_TYPE = 'PRIMARY KEY'
ORDER BY k.ORDINAL_POSITION;
-- noqa: enable=CP02
