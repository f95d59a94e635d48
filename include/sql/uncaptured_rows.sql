-- The first rows a disarm found deleted past the capture trigger, to name them. Context: t.
SELECT TOP 5 {{ t.identity_list() }} FROM {{ t.q(t.uncaptured) }} ORDER BY {{ t.key_list() }};
