-- Mark the jobs whose content changed in the import (read before restore_history), so the
-- restore can hold their history back and verify_history can archive it with its reason.
-- Context: database, changed_event_ids.
USE {{ database }};
SET XACT_ABORT ON;
SET NOCOUNT ON;
BEGIN TRANSACTION;
{% include "fingerprint_table.sql" %}
{% for event_id in changed_event_ids %}
UPDATE [dbo].[ds_replication_fingerprint] SET [changed] = 1 WHERE [event_id] = {{ event_id | int }};
{% endfor %}
COMMIT TRANSACTION;
SELECT COUNT(*) AS changed_jobs FROM [dbo].[ds_replication_fingerprint] WHERE [changed] = 1;
