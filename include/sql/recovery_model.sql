-- The DS database's recovery model (SIMPLE, FULL or BULK_LOGGED): under FULL and BULK_LOGGED
-- the log keeps what a night writes until a log backup. Parameter: the database's name.
SELECT recovery_model_desc
FROM sys.databases
WHERE name = %s;
