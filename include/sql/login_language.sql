-- The session's language: the login's default language, which decides how date strings read.
SELECT @@LANGUAGE AS language;
