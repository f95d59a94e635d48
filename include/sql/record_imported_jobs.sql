-- Each job's content as the import left it, once its history is verified: approve_changes
-- compares the slave's jobs with it to find the ones edited on the slave since.
-- Context: database, fingerprints {event_id: sha256}.
USE {{ database }};
SET XACT_ABORT ON;
SET NOCOUNT ON;
BEGIN TRANSACTION;
IF OBJECT_ID(N'dbo.ds_replication_imported_job', N'U') IS NULL
    BEGIN
        CREATE TABLE [dbo].[ds_replication_imported_job] (
            [event_id] int NOT NULL PRIMARY KEY,
            [fingerprint] char(64) NOT NULL
        );
    END;
DELETE FROM [dbo].[ds_replication_imported_job];
{% for event_id, fingerprint in fingerprints.items() %}
INSERT INTO [dbo].[ds_replication_imported_job] ([event_id], [fingerprint])
VALUES ({{ event_id | int }}, '{{ fingerprint }}');
{% endfor %}
COMMIT TRANSACTION;
SELECT COUNT(*) AS recorded_jobs FROM [dbo].[ds_replication_imported_job];
