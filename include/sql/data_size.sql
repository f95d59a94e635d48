-- The size of the current database's data files in 8 KB pages (the log does not count toward
-- an edition's cap).
SELECT SUM(size) AS pages FROM sys.database_files WHERE type = 0;
