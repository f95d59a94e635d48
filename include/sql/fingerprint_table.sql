-- Each job's content before the import, kept from the first attempt of a failed night on.
IF OBJECT_ID(N'dbo.ds_replication_fingerprint', N'U') IS NULL
    BEGIN
        CREATE TABLE [dbo].[ds_replication_fingerprint] (
            [event_id] int NOT NULL PRIMARY KEY,
            [fingerprint] char(64) NOT NULL,
            [changed] bit NOT NULL DEFAULT 0
        );
    END;
