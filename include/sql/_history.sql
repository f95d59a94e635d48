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
{#- 1 .. 10^digits, to repeat a held row as often as it is missing (render with enough digits:
    history.py counts the most copies a keyless row is short first). -#}
{%- macro copy_numbers(digits) -%}
(
    SELECT {% for i in range(digits) %}{{ ' + ' if i else '' }}d{{ i }}.n * {{ 10 ** i }}{% endfor %} + 1 AS [copy]
{% for i in range(digits) %}    {{ 'INNER JOIN' if i else 'FROM' }} (
        SELECT 0 AS n
{% for n in range(1, 10) %}        UNION ALL
        SELECT {{ n }}
{% endfor %}    ) AS d{{ i }}{{ ' ON 1 = 1' if i else '' }}
{% endfor %})
{%- endmacro -%}
{#- Which held rows may go back: their parent row exists (and, unless asked, their job did not change). -#}
{%- macro held_restorable(t, b, restore_changed_jobs) -%}
{{ parent_exists(t, b) }}{% if t.parent == 'event' and not restore_changed_jobs %} AND NOT {{ changed_job(b) }}{% endif %}
{%- endmacro -%}
{#- No key: a held row and how many copies of it the live table lacks (`where`: on b, the held rows). -#}
{%- macro short_copies(t, where) -%}
(
    SELECT {{ t.column_list('g') }}, g.[ds_replication_copies] - {{ copies(t, 'g', t.live, 'l') }} AS [missing]
    FROM {{ held_copies(t, where) }} AS g
)
{%- endmacro -%}
{#- No key: exact duplicates are rows of their own; each held row goes back as many times as the
    backup holds it more often than the live table does. -#}
{%- macro restore_copies(t, where, digits) -%}
-- noqa: disable=ST05
INSERT INTO {{ t.q(t.live) }} ({{ t.column_list() }})
SELECT {{ t.column_list('m') }}
FROM {{ short_copies(t, where) }} AS m
INNER JOIN {{ copy_numbers(digits) }} AS k ON m.[missing] >= k.[copy];
-- noqa: enable=ST05
{%- endmacro -%}

{#- The live table's key as an index of one of the package's tables, made once: the history steps
    and the capture triggers look rows up by key (not unique: the archive may hold a row and a
    conflict). -#}
{%- macro key_index(t, table) -%}
IF NOT EXISTS (
    SELECT 1 FROM sys.indexes
    WHERE object_id = OBJECT_ID(N'dbo.{{ table }}') AND name = N'{{ table }}_key'
)
    BEGIN
        CREATE INDEX {{ (table ~ '_key') | qn }} ON {{ t.q(table) }} ({{ t.key_list() }});
    END;
{%- endmacro -%}
