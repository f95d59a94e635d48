{#- Macros shared by the history scripts; not a script of its own. -#}
{%- macro archive_columns(t) -%}
{{ t.column_list() }}, [ds_replication_reason], [ds_replication_archived_at]
{%- endmacro -%}
{%- macro conflict(t, b, other, other_alias) -%}
EXISTS (SELECT 1 FROM {{ other }} AS {{ other_alias }} WHERE {{ t.match(other_alias, b) }})
    AND NOT EXISTS (SELECT 1 FROM {{ other }} AS {{ other_alias }} WHERE {{ t.same_row(other_alias, b) }})
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
