-- Rows the capture trigger copied into a backup table, counted by the session that deleted
-- them (program, host, login) and by the aximport window they were deleted in (none: outside
-- every window). Rows the backup's snapshot copied (no deleting session) are not counted.
-- Context: t (a history table), windows (the import window table exists).
SELECT
    b.[ds_replication_deleted_by_program] AS program,
    b.[ds_replication_deleted_by_host] AS host,
    b.[ds_replication_deleted_by_login] AS login_name,
{% if windows %}
    w.[started_at] AS window_started_at,
    w.[host_name] AS window_host,
{% endif %}
    COUNT(*) AS captured_rows
FROM {{ t.q(t.backup) }} AS b
{% if windows %}
LEFT OUTER JOIN [dbo].[ds_replication_import_window] AS w
    ON
        b.[ds_replication_captured_at] >= w.[started_at]
        AND (w.[ended_at] IS NULL OR b.[ds_replication_captured_at] <= w.[ended_at])
{% endif %}
WHERE b.[ds_replication_captured_at] IS NOT NULL
GROUP BY
    b.[ds_replication_deleted_by_program],
    b.[ds_replication_deleted_by_host],
    b.[ds_replication_deleted_by_login]{% if windows %},
    w.[started_at],
    w.[host_name]{% endif %};
