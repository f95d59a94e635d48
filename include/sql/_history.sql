{#- Macros shared by the history scripts; not a script of its own. -#}
{%- macro archive_columns(t) -%}
{{ t.column_list() }}, [ds_replication_reason], [ds_replication_archived_at]
{%- endmacro -%}
{#- In a trigger, `deleted` cannot give text/ntext/image (Msg 311): rows compare without them there. -#}
{%- macro conflict(t, b, other, other_alias) -%}
EXISTS (SELECT 1 FROM {{ other }} AS {{ other_alias }} WHERE {{ t.match(other_alias, b) }})
    AND NOT EXISTS (SELECT 1 FROM {{ other }} AS {{ other_alias }} WHERE {{ t.same_row(other_alias, b, other == 'deleted') }})
{%- endmacro -%}
{%- macro parent_exists(t, b) -%}
EXISTS (SELECT 1 FROM {{ t.q(t.parent) }} AS p WHERE p.{{ t.parent_key | qn }} = {{ b }}.{{ t.parent_key | qn }})
{%- endmacro -%}
{%- macro changed_job(b) -%}
EXISTS (
        SELECT 1 FROM [dbo].[ds_replication_fingerprint] AS f
        WHERE f.[event_id] = {{ b }}.[event_id] AND f.[changed] = 1
    )
{%- endmacro -%}
{%- macro restorable(t, b, restore_changed_jobs) -%}
NOT EXISTS (SELECT 1 FROM {{ t.q(t.live) }} AS l WHERE {{ t.match('l', b) }})
{% if t.parent == 'event' and not restore_changed_jobs %}    AND NOT {{ changed_job(b) }}
{% endif %}    AND {{ parent_exists(t, b) }}
{%- endmacro -%}
{%- macro archive_conflicts(t, other, other_alias) -%}
INSERT INTO {{ t.q(t.archive) }} ({{ archive_columns(t) }})
SELECT {{ t.column_list('b') }}, N'conflict: its key was given to another row' AS [ds_replication_reason], GETDATE() AS [ds_replication_archived_at]
FROM {{ t.q(t.backup) }} AS b
WHERE {{ conflict(t, 'b', other, other_alias) }};
{%- endmacro -%}
{%- macro child_of_conflict(c, parent, other, other_alias) -%}
EXISTS (
    SELECT 1 FROM {{ parent.q(parent.backup) }} AS b
    WHERE b.{{ c.parent_key | qn }} = c.{{ c.parent_key | qn }}
        AND {{ conflict(parent, 'b', other, other_alias) }}
)
{%- endmacro -%}
{%- macro archive_children_of_conflicts(c, parent, other, other_alias) -%}
INSERT INTO {{ c.q(c.archive) }} ({{ archive_columns(c) }})
SELECT {{ c.column_list('c') }}, N'conflict: its parent row''s key was given to another row' AS [ds_replication_reason], GETDATE() AS [ds_replication_archived_at]
FROM {{ c.q(c.backup) }} AS c
WHERE {{ child_of_conflict(c, parent, other, other_alias) }};
DELETE c FROM {{ c.q(c.backup) }} AS c
WHERE {{ child_of_conflict(c, parent, other, other_alias) }};
{%- endmacro -%}
{%- macro copies(t, alias, table, table_alias) -%}
(SELECT COUNT(*) FROM {{ t.q(table) }} AS {{ table_alias }} WHERE {{ t.same_row(table_alias, alias) }})
{%- endmacro -%}
{%- macro held_copies(t, where) -%}
(
    SELECT {{ t.column_list('b') }}, COUNT(*) AS [ds_replication_copies]
    FROM {{ t.q(t.backup) }} AS b
{% if where %}    WHERE {{ where }}
{% endif %}    GROUP BY {{ t.column_list('b') }}
)
{%- endmacro -%}
{%- macro copy_numbers() -%}
(
    SELECT tens.n * 10 + units.n + 1 AS [copy]
    FROM (
        SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
        UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9
    ) AS tens
    INNER JOIN (
        SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
        UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9
    ) AS units ON 1 = 1
)
{%- endmacro -%}
