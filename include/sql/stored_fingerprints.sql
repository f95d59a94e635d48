-- Each job's fingerprint as backup_history stored it before the import.
SELECT event_id, fingerprint FROM [dbo].[ds_replication_fingerprint];
