{% import "_history.sql" as h %}
-- Run by arm_capture just before the capture triggers, in their transaction, for a history
-- table with text, ntext or image columns: an AFTER trigger cannot read those from deleted
-- (Msg 311), so the capture takes them from the backup's copy of the row. This brings that
-- copy up to date: the LOB columns of every row the backup holds, and the rows written since
-- backup_history. A LOB changed after this moment is not seen by the capture (README).
-- Context: t.
UPDATE {{ t.q(t.backup) }}
SET
{% for c in t.unreadable %}
    {{ c | qn }} = (SELECT l.{{ c | qn }} FROM {{ t.q(t.live) }} AS l WHERE {{ t.same_row('l', t.backup | qn, True) }}){{ ',' if not loop.last }}
{% endfor %}
WHERE EXISTS (SELECT 1 FROM {{ t.q(t.live) }} AS l WHERE {{ t.same_row('l', t.backup | qn, True) }});
INSERT INTO {{ t.q(t.backup) }} ({{ t.column_list() }})
SELECT {{ t.column_list('l') }} FROM {{ t.q(t.live) }} AS l
WHERE NOT EXISTS (SELECT 1 FROM {{ t.q(t.backup) }} AS b WHERE {{ t.match('l', 'b') }});
