{% import "_history.sql" as h %}
-- Run by arm_capture in the arming transaction, before the capture triggers: records every
-- history row live now (its identity columns) in ds_replication_<table>_armed, and makes
-- ds_replication_<table>_captured, which the triggers fill. At disarm (capture_check.sql) each
-- armed row must be live or captured: a row deleted past the trigger (TRUNCATE TABLE, a
-- trigger disabled, dropped or not fired) is found there, by name. Armed again before a
-- disarm (a retried import), the rows already recorded are kept and the new ones added.
-- Context: tables.
{% for t in tables %}
IF OBJECT_ID(N'dbo.{{ t.armed }}', N'U') IS NULL
    BEGIN
        SELECT {{ t.identity_create_list() }}
        INTO {{ t.q(t.armed) }}
        FROM {{ t.q(t.live) }};
    END
ELSE
    BEGIN
        INSERT INTO {{ t.q(t.armed) }} ({{ t.identity_list() }})
        SELECT {{ t.identity_list('l') }} FROM {{ t.q(t.live) }} AS l
        WHERE NOT EXISTS (SELECT 1 FROM {{ t.q(t.armed) }} AS a WHERE {{ t.same_row('a', 'l', True) }});
    END;
IF OBJECT_ID(N'dbo.{{ t.captured }}', N'U') IS NULL
    BEGIN
        SELECT {{ t.identity_create_list() }}
        INTO {{ t.q(t.captured) }}
        FROM {{ t.q(t.live) }}
        WHERE 1 = 0;
    END;
{% if t.has_key %}
{% for table in (t.armed, t.captured) %}
{{ h.key_index(t, table) }}
{% endfor %}
{% endif %}
{% endfor %}
