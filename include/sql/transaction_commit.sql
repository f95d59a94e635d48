-- Closes the transaction that transaction_begin.sql opened.
COMMIT TRANSACTION;
