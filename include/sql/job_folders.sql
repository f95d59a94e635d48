-- The job folder tree of the DS console.
SELECT folder_id, parent_id, name FROM event_folder;
