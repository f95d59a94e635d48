-- wait_for_backup: the columns of the live history tables that their backup table lacks (all of
-- them when there is no backup). 0 means the capture triggers can copy whatever the import
-- deletes. Computed and rowversion (system type 189) columns are never copied.
-- Context: database, tables.
USE {{ database }};
SELECT
{% for t in tables %}
    {{ '+ ' if not loop.first }}(
        SELECT COUNT(*) FROM sys.columns AS l
        WHERE
            l.object_id = OBJECT_ID(N'dbo.{{ t.live }}')
            AND l.is_computed = 0
            AND l.system_type_id <> 189
            AND NOT EXISTS (
                SELECT 1 FROM sys.columns AS b
                WHERE b.object_id = OBJECT_ID(N'dbo.{{ t.backup }}') AND b.name = l.name
            )
    )
{% endfor %}
    AS missing_columns;
