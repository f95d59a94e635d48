-- The name of every job with its folder.
SELECT folder_id, name FROM event;
