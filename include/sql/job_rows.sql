-- Every row of a table holding job content (the job row, its conditions and tasks), for the
-- job fingerprints: every column, whatever this DS version has. Context: table.
SELECT * FROM {{ table | qn }};  -- noqa: AM04
