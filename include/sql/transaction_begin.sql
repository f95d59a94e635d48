-- Opens the transaction that arms the capture triggers: each CREATE TRIGGER is a batch of its
-- own, so the transaction spans batches on one connection. Creating a trigger takes a schema
-- lock on its table: wait at most 30 s behind the DS (then error 1222, retried), never forever.
-- Context: database.
USE {{ database }};
SET LOCK_TIMEOUT 30000;
BEGIN TRANSACTION;
