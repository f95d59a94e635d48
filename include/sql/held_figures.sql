{% import "_history.sql" as h %}
-- What the backup holds after a restore: rows of jobs gone from the slave, of changed jobs, in all.
-- Context: database, tables.
USE {{ database }};
SELECT
    (
        SELECT COUNT(*) FROM {{ tables[0].q(tables[0].backup) }} AS b
        WHERE NOT {{ h.parent_exists(tables[0], 'b') }}
    ) AS job_gone_rows,
    (
        SELECT COUNT(*) FROM {{ tables[0].q(tables[0].backup) }} AS b
        WHERE {{ h.changed_job('b') }}
    ) AS changed_job_rows,
    (SELECT COUNT(*) FROM {{ tables[0].q(tables[0].backup) }}) AS held_rows;
