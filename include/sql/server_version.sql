-- The server's version and edition, as every version words it (SQL Server 2000 included).
SELECT @@VERSION AS version;
