{% import "_history.sql" as h %}
-- The package's tables beside each history table, made once from the live table's columns:
-- ds_replication_<table>_backup (history held until it is accounted for) and
-- ds_replication_<table>_archive (history the replication removed from the console, with the
-- reason). Names of our own: the seed article's script drops event_schedule_backup.
-- A column the DS added to a live table later (a service pack) is added to both; one it made
-- longer or wider is widened in both; either with the live column's collation (without COLLATE
-- it would take the database's default, and comparing the two would fail: Msg 468). The backup
-- has columns of its own saying who deleted a captured row (history_table.CAPTURED_BY), added to
-- a backup made by an older version (NULL: its rows keep every value).
-- Context: database, tables, missing and widened {table name: [catalog.Column]}, captured_by
-- {backup table name: [(column, type)] it lacks}.
USE {{ database }};
SET XACT_ABORT ON;
SET NOCOUNT ON;
BEGIN TRANSACTION;
{% for t in tables %}
IF OBJECT_ID(N'dbo.{{ t.backup }}', N'U') IS NULL
    BEGIN
        SELECT {{ t.create_list() }}
        INTO {{ t.q(t.backup) }}
        FROM {{ t.q(t.live) }}
        WHERE 1 = 0;
    END;
IF OBJECT_ID(N'dbo.{{ t.archive }}', N'U') IS NULL
    BEGIN
        SELECT {{ t.create_list() }}
        INTO {{ t.q(t.archive) }}
        FROM {{ t.q(t.live) }}
        WHERE 1 = 0;
        ALTER TABLE {{ t.q(t.archive) }} ADD [ds_replication_reason] nvarchar(400) NULL;
        ALTER TABLE {{ t.q(t.archive) }} ADD [ds_replication_archived_at] datetime NULL;
    END;
{% if t.has_key %}
-- The live table's key as an index: every match of the history steps and of the capture
-- triggers looks rows up by key (not unique: the archive may hold a row and a conflict).
{% for table in (t.backup, t.archive) %}
{{ h.key_index(t, table) }}
{% endfor %}
{% endif %}
{% for name, type in captured_by.get(t.backup, []) %}
ALTER TABLE {{ t.q(t.backup) }} ADD {{ name | qn }} {{ type }} NULL;
{% endfor %}
{% for table in (t.backup, t.archive) %}
{% for c in missing.get(table, []) %}
ALTER TABLE {{ t.q(table) }} ADD {{ c.name | qn }} {{ c.type_sql() }}{{ c.collate_sql() }} NULL;
{% endfor %}
{% for c in widened.get(table, []) %}
ALTER TABLE {{ t.q(table) }} ALTER COLUMN {{ c.name | qn }} {{ c.type_sql() }}{{ c.collate_sql() }} {{ 'NULL' if c.nullable else 'NOT NULL' }};
{% endfor %}
{% endfor %}
{% endfor %}
{% include "fingerprint_table.sql" %}
COMMIT TRANSACTION;
SELECT (SELECT COUNT(*) FROM {{ tables[0].q(tables[0].backup) }}) AS held_rows;
