-- Which of the named tables exist in the DS database. Context: names.
SELECT name FROM sys.tables
WHERE name IN ({% for n in names %}{{ ', ' if not loop.first }}N'{{ n | identifier }}'{% endfor %});
