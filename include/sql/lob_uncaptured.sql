-- The keys of the rows the capture archived without their text, ntext or image columns
-- (capture_trigger.sql) since the backup table was made: restore reports them by key.
-- Context: t.
SELECT {{ t.key_list('a') }}
FROM {{ t.q(t.archive) }} AS a
WHERE
    a.[ds_replication_reason] = N'{{ t.uncaptured_reason }}'
    AND a.[ds_replication_archived_at] >= (
        SELECT o.create_date FROM sys.objects AS o WHERE o.object_id = OBJECT_ID(N'dbo.{{ t.backup }}')
    );
