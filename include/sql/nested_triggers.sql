-- The server option 'nested triggers' (configuration_id 115): value_in_use is what the server
-- runs with, value what sp_configure set (in use after RECONFIGURE).
SELECT
    CAST(value_in_use AS int) AS value_in_use,
    CAST(value AS int) AS configured
FROM sys.configurations
WHERE configuration_id = 115;
