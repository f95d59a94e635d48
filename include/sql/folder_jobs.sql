-- Every job with its id and folder.
SELECT event_id, folder_id, name FROM event;
