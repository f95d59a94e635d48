-- Undoes the transaction that transaction_begin.sql opened, if it is still open.
IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;
