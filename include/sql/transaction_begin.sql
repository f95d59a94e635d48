-- Opens the transaction that arms the capture triggers: each CREATE TRIGGER is a batch of its
-- own, so the transaction spans batches on one connection. Context: database.
USE {{ database }};
BEGIN TRANSACTION;
