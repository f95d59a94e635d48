-- Each job's fingerprint as the last verified import left it (record_imported_jobs.sql).
SELECT event_id, fingerprint FROM [dbo].[ds_replication_imported_job];
