-- How many history rows the backup table holds. Context: table (the backup table).
SELECT COUNT(*) AS n FROM [dbo].{{ table | qn }};
