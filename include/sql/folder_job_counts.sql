-- How many jobs each job folder holds (not counting its sub-folders).
SELECT folder_id, COUNT(*) AS jobs FROM event GROUP BY folder_id;
