"""The SQL helpers under their first name, for the modules that take a pymssql connection
(catalog, history, sql_server, templates): they live in `ds_replication.hooks.database`."""

from __future__ import annotations

from ds_replication.hooks.database import execute, query, quote_name, run_script

__all__ = ["execute", "query", "quote_name", "run_script"]
