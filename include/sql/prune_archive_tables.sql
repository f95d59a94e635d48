-- Retention (ds_replication.retention): the rows of the history archive tables archived before
-- the cutoff go, in one transaction; a row with no archive time stays. The one delete of
-- history in the package, of rows the user's `retention` let go. Parameter: the cutoff,
-- ISO 8601 'YYYY-MM-DDThh:mm:ss' (read the same under every language and DATEFORMAT).
-- Context: database, tables (those whose archive table exists).
USE {{ database }};
SET XACT_ABORT ON;
SET NOCOUNT ON;
DECLARE @cutoff datetime;
{% for t in tables %}
DECLARE {{ '@removed_' ~ loop.index0 }} int;
{% endfor %}
SET @cutoff = CAST(%s AS datetime);
BEGIN TRANSACTION;
{% for t in tables %}
DELETE FROM {{ t.q(t.archive) }} WHERE [ds_replication_archived_at] < @cutoff;
SET {{ '@removed_' ~ loop.index0 }} = @@ROWCOUNT;
{% endfor %}
COMMIT TRANSACTION;
SELECT
{% for t in tables %}
    {{ '@removed_' ~ loop.index0 }} AS {{ 'removed_' ~ loop.index0 }}{{ ',' if not loop.last else ';' }}
{% endfor %}
