-- IDENTITY_INSERT is a session setting: a restore batch that failed between ON and OFF leaves
-- it ON for this connection, and the next table's ON would fail (Msg 8107). OFF is harmless
-- when it is already off. Context: t.
SET IDENTITY_INSERT {{ t.q(t.live) }} OFF;
