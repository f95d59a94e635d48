-- import_jobs records each aximport window in the slave's own clock (the one the capture
-- trigger stamps captured rows with): `open` just before the first aximport starts, `close`
-- once the last has exited (or, for a window left open by a try that timed out or was killed,
-- once no aximport runs any more: the next import_jobs, or cleanup's disarm). The run's
-- report tells the rows aximport deleted from those other sessions deleted (capture_sessions.py).
-- Kept until verify_history drops the backup. Context: database, action ('open' or 'close'),
-- and, for open, the slave's computer name as the one query parameter.
USE {{ database }};
SET NOCOUNT ON;
IF OBJECT_ID(N'dbo.ds_replication_import_window', N'U') IS NULL
    BEGIN
        CREATE TABLE [dbo].[ds_replication_import_window] (
            [started_at] datetime NOT NULL,
            [ended_at] datetime NULL,
            [host_name] nvarchar(128) NOT NULL
        );
    END;
UPDATE [dbo].[ds_replication_import_window] SET [ended_at] = GETDATE() WHERE [ended_at] IS NULL;
{% if action == 'open' %}
INSERT INTO [dbo].[ds_replication_import_window] ([started_at], [ended_at], [host_name])
SELECT GETDATE() AS [started_at], NULL AS [ended_at], %s AS [host_name];
{% endif %}
SELECT TOP 1
    [started_at],
    [ended_at],
    [host_name]
FROM [dbo].[ds_replication_import_window]
ORDER BY [started_at] DESC;
