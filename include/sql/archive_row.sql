{% import "_history.sql" as h %}
-- A held row the database refused to restore moves to the archive with the reason, so that
-- one bad row does not hold every other row back night after night. Parameters: the reason,
-- then the row's key twice (pymssql fills them in).
-- Context: database, t.
USE {{ database }};
SET XACT_ABORT ON;
SET NOCOUNT ON;
DECLARE @archived_rows int;
BEGIN TRANSACTION;
INSERT INTO {{ t.q(t.archive) }} ({{ h.archive_columns(t) }})
SELECT {{ t.column_list('b') }}, %s AS [ds_replication_reason], GETDATE() AS [ds_replication_archived_at] FROM {{ t.q(t.backup) }} AS b
WHERE {{ t.key_equals_params('b') }};
SET @archived_rows = @@ROWCOUNT;
DELETE b FROM {{ t.q(t.backup) }} AS b
WHERE {{ t.key_equals_params('b') }};
COMMIT TRANSACTION;
SELECT @archived_rows AS archived_rows;
