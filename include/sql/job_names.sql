-- The names of the given jobs. Context: event_ids (integers).
SELECT event_id, name FROM [dbo].[event]
WHERE event_id IN ({{ event_ids | join(', ') }});
