-- Disarm the capture (restore_history, once the import is over), proving first that it was
-- complete: every history row recorded when it was armed (capture_ledger.sql) is live, or was
-- captured by the trigger. The others were deleted past it (TRUNCATE TABLE, a trigger
-- disabled then enabled, dropped, or not fired as a nested trigger) and go to
-- ds_replication_<table>_uncaptured, which verify_history reports and keeps. Checking,
-- dropping the ledger and the triggers is one transaction: a repeat finds nothing to check.
-- Context: database, tables.
USE {{ database }};
SET XACT_ABORT ON;
SET NOCOUNT ON;
DECLARE @enabled_triggers int;
DECLARE @checked_tables int;
DECLARE @uncaptured_rows int;
DECLARE @uncaptured_detail_rows int;
SET @checked_tables = 0;
SET @uncaptured_rows = 0;
SET @uncaptured_detail_rows = 0;
BEGIN TRANSACTION;
SELECT @enabled_triggers = COUNT(*) FROM sys.triggers
WHERE
    name IN ({% for t in tables %}N'{{ t.capture_trigger }}'{{ ', ' if not loop.last }}{% endfor %})
    AND is_disabled = 0;
{% for t in tables %}
IF OBJECT_ID(N'dbo.{{ t.armed }}', N'U') IS NOT NULL
    BEGIN
        IF OBJECT_ID(N'dbo.{{ t.uncaptured }}', N'U') IS NULL
            BEGIN
                SELECT {{ t.identity_list('a') }}
                INTO {{ t.q(t.uncaptured) }}
                FROM {{ t.q(t.armed) }} AS a
                WHERE 1 = 0;
            END;
        INSERT INTO {{ t.q(t.uncaptured) }} ({{ t.identity_list() }})
        SELECT {{ t.identity_list('a') }} FROM {{ t.q(t.armed) }} AS a
        WHERE
            NOT EXISTS (SELECT 1 FROM {{ t.q(t.live) }} AS l WHERE {{ t.same_row('l', 'a', True) }})
            AND NOT EXISTS (SELECT 1 FROM {{ t.q(t.captured) }} AS c WHERE {{ t.same_row('c', 'a', True) }});
{% if loop.first %}        SET @uncaptured_rows = @@ROWCOUNT;
{% else %}        SET @uncaptured_detail_rows = @uncaptured_detail_rows + @@ROWCOUNT;
{% endif %}
        SET @checked_tables = @checked_tables + 1;
        DROP TABLE {{ t.q(t.armed) }};
    END;
IF OBJECT_ID(N'dbo.{{ t.captured }}', N'U') IS NOT NULL
    BEGIN
        DROP TABLE {{ t.q(t.captured) }};
    END;
IF OBJECT_ID(N'dbo.{{ t.capture_trigger }}', N'TR') IS NOT NULL
    BEGIN
        DROP TRIGGER [dbo].{{ t.capture_trigger | qn }};
    END;
{% endfor %}
COMMIT TRANSACTION;
SELECT
    @enabled_triggers AS enabled_triggers,
    @checked_tables AS checked_tables,
    @uncaptured_rows AS uncaptured_rows,
    @uncaptured_detail_rows AS uncaptured_detail_rows,
    (
        SELECT COUNT(*) FROM sys.triggers
        WHERE name IN ({% for t in tables %}N'{{ t.capture_trigger }}'{{ ', ' if not loop.last }}{% endfor %})
    ) AS armed;
