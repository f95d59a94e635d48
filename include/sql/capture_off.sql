-- Disarm the capture triggers (restore_history, once the import is over; verify_history).
-- Context: database, tables.
USE {{ database }};
SET XACT_ABORT ON;
SET NOCOUNT ON;
{% for t in tables %}
IF OBJECT_ID(N'dbo.{{ t.capture_trigger }}', N'TR') IS NOT NULL
    BEGIN
        DROP TRIGGER [dbo].{{ t.capture_trigger | qn }};
    END;
{% endfor %}
SELECT COUNT(*) AS armed FROM sys.triggers
WHERE name IN ({% for t in tables %}N'{{ t.capture_trigger }}'{{ ', ' if not loop.last }}{% endfor %});
