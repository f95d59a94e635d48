-- The server option 'nested triggers' (configuration 115) as the server runs with it: 1 lets
-- a trigger fire from a delete made by another trigger (the DS's cascade from event).
SELECT CAST(value_in_use AS int) AS value_in_use
FROM sys.configurations
WHERE configuration_id = 115;
