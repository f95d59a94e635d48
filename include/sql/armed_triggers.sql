-- Which of the named triggers exist and are enabled. Context: names.
SELECT name FROM sys.triggers
WHERE
    name IN ({% for n in names %}{{ ', ' if not loop.first }}N'{{ n | identifier }}'{% endfor %})
    AND is_disabled = 0;
