-- The capture trigger fires first among its table's AFTER DELETE triggers, before any trigger of
-- the site's can act on the rows being deleted. Run only when no other trigger is First there
-- (SQL Server allows one: Msg 15130). Context: t.
EXEC sp_settriggerorder @triggername = N'dbo.{{ t.capture_trigger | identifier }}', @order = N'First', @stmttype = N'DELETE';
