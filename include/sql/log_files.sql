-- The current database's transaction log files: size and how far they may grow, in 8 KB
-- pages (growth 0: no autogrowth; max_size -1 or 268435456: up to the disk).
SELECT
    size,
    max_size,
    growth,
    is_percent_growth
FROM sys.database_files
WHERE type = 1;
