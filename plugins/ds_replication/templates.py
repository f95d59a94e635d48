"""The T-SQL templates in include/sql, rendered with what the catalog said.

Every statement the package sends to a DS database is one of these templates: sqlfluff lints
them as rendered (`make lint`), and each rendered script is logged before it runs. Names reach
the SQL only through `qn` ([name]) or `identifier` (the bare name, inside a literal), both of
which refuse anything but a plain identifier; values only as checked integers and digests, or
as pymssql parameters. No secret is ever part of a script.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path
from typing import Any

import jinja2

from ds_replication.history_table import CAPTURED_BY, Column, HistoryTable
from ds_replication.sql import quote_name

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parents[2] / "include" / "sql"


def identifier(name: str) -> str:
    """`name` itself once quote_name accepts it: for names written inside N'...' literals."""
    quote_name(name)  # validates
    return name


def _environment() -> jinja2.Environment:
    if not SQL_DIR.is_dir():
        # an install that copied plugins/ds_replication without the project's include/ folder
        raise FileNotFoundError(
            f"the T-SQL templates are not at {SQL_DIR}: run the package from the project's plugins/ "
            "folder (or an editable install of the project), with include/sql beside plugins/"
        )
    return _loaded_environment(SQL_DIR)


@functools.cache
def _loaded_environment(sql_dir: Path) -> jinja2.Environment:
    """One environment per folder, for the life of the process: it keeps each template compiled
    (Jinja compiles a template to Python on first use, about 10 ms of CPU per script here;
    a new environment per render compiled every script again: 0.6 CPU-s to render the 58
    sample scripts, 0.005 s once compiled)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(sql_dir),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - T-SQL, not HTML; values are validated identifiers and ints
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    env.filters["qn"] = quote_name
    env.filters["identifier"] = identifier
    return env


def render(name: str, *, database: str | None = None, **context: Any) -> str:
    """The script `name` rendered with `context`, logged at INFO: every caller runs what it renders."""
    # Values written into the SQL as literals: integers and hex digests only.
    event_ids = [*context.get("changed_event_ids", []), *context.get("event_ids", []), *context.get("fingerprints", {})]
    for event_id in event_ids:
        if type(event_id) is not int:
            raise ValueError(f"not an integer event_id: {event_id!r}")
    for fingerprint in context.get("fingerprints", {}).values():
        if len(fingerprint) != 64 or not all(c in "0123456789abcdef" for c in fingerprint):
            raise ValueError(f"not a sha256 hex digest: {fingerprint!r}")
    if database is not None:
        context["database"] = quote_name(database)
    sql = _environment().get_template(name).render(**context)
    log.info("SQL %s:\n%s", name, sql.strip())
    return sql


def sample_tables(identity: bool) -> list[HistoryTable]:
    """History tables as a DS database has them; for lint and tests of the rendered SQL."""
    return [
        HistoryTable(
            "event_schedule",
            "event",
            "event_id",
            ("schedule_id", "computer_id", "event_id", "status", "start_time", "end_time"),
            ("schedule_id",),
            "schedule_id" if identity else None,
            frozenset({"end_time"}),
            ("schedule_id", "event_id", "computer_id", "start_time"),
        ),
        HistoryTable(
            "event_schedule_info",
            "event_schedule",
            "schedule_id",
            ("schedule_id", "info_id", "status_code", "message", "logged_at"),
            ("schedule_id", "info_id"),
            None,
            frozenset({"message"}),
            # with IDENTITY, the SQL 2000 era's ntext message (capture_trigger.sql and lob_refresh.sql differ)
            lob_casts=(("message", "nvarchar(MAX)"),) if identity else (),
            unreadable_types=(("message", "ntext"),) if identity else (),
        ),
    ]


def sample_scripts(identity: bool) -> dict[str, str]:
    """Every script rendered for a sample catalog, by file stem; pymssql's `%s` parameters
    shown as 0 so that the text is plain T-SQL."""
    tables = sample_tables(identity)
    t = tables[0]
    common = {"database": "express", "tables": tables, "restore_changed_jobs": identity}
    status = Column("status", "nvarchar", 400, 0, 0, False, "Latin1_General_CS_AS")
    lob = dataclasses.replace(
        tables[1], lob_casts=(("message", "nvarchar(MAX)"),), unreadable_types=(("message", "ntext"),)
    )
    scripts = {
        "history_tables": render(
            "history_tables.sql",
            missing={t.archive: []},
            widened={t.backup: [status]},
            captured_by={t.backup: [(name, kind) for name, kind, _ in CAPTURED_BY]},
            **common,
        ),
        "backup_history": render("backup_history.sql", fingerprints={2020549: "ab" * 32}, **common),
        "capture_trigger": render("capture_trigger.sql", t=t, children=tables[1:]),
        "capture_off": render("capture_off.sql", **common),
        "capture_ledger": render("capture_ledger.sql", **common),
        "capture_check": render("capture_check.sql", **common),
        "uncaptured_rows": render("uncaptured_rows.sql", t=t),
        "capture_ready": render("capture_ready.sql", **common),
        "mark_changed_jobs": render("mark_changed_jobs.sql", changed_event_ids=[2020549], **common),
        "held_figures": render("held_figures.sql", **common),
        "verify_history": render("verify_history.sql", **common),
        "prune_archive_tables": render("prune_archive_tables.sql", **common).replace("%s", "'2026-01-01T00:00:00'"),
        "adopt_legacy": render(
            "adopt_legacy.sql", sources=[(x, x.legacy_backup, x.legacy_archive) for x in tables], **common
        ),
        "transaction_begin": render("transaction_begin.sql", database="express"),
        "transaction_commit": render("transaction_commit.sql"),
        "transaction_rollback": render("transaction_rollback.sql"),
        "catalog_columns": render("catalog_columns.sql", table=t.live),
        "catalog_unique_keys": render("catalog_unique_keys.sql", table=t.live),
        "catalog_primary_key": render("catalog_primary_key.sql", table=t.live),
        "catalog_existing_tables": render("catalog_existing_tables.sql", names=[t.backup, t.archive]),
        "armed_triggers": render("armed_triggers.sql", names=[x.capture_trigger for x in tables]),
        "held_rows": render("held_rows.sql", table=t.backup),
        "stored_fingerprints": render("stored_fingerprints.sql"),
        "imported_jobs": render("imported_jobs.sql"),
        "record_imported_jobs": render("record_imported_jobs.sql", database="express", fingerprints={7: "ab" * 32}),
        "folder_jobs": render("folder_jobs.sql"),
        "job_rows": render("job_rows.sql", table="event"),
        "job_names": render("job_names.sql", event_ids=[2020549, 2020550]),
        "job_folders": render("job_folders.sql"),
        "folder_job_counts": render("folder_job_counts.sql"),
        "folder_job_names": render("folder_job_names.sql"),
        "server_version": render("server_version.sql"),
        "nested_triggers": render("nested_triggers.sql"),
        "data_size": render("data_size.sql"),
        "log_files": render("log_files.sql"),
        "recovery_model": render("recovery_model.sql").replace("%s", "N'express'"),
        "server_facts": render("server_facts.sql"),
        "login_language": render("login_language.sql"),
        "table_triggers": render("table_triggers.sql", table=t.live),
        "identity_insert_off": render("identity_insert_off.sql", t=t),
        "capture_first": render("capture_first.sql", t=t),
        "capture_trigger_detail": render("capture_trigger.sql", t=lob, children=[]),
        "lob_refresh": render("lob_refresh.sql", t=lob),
        "lob_uncaptured": render("lob_uncaptured.sql", t=lob),
        "import_window_open": render("import_window.sql", action="open", database="express").replace("%s", "N'SLAVE1'"),
        "import_window_close": render("import_window.sql", action="close", database="express"),
        "captured_sessions": render("captured_sessions.sql", t=t, windows=True),
        "captured_sessions_no_window": render("captured_sessions.sql", t=t, windows=False),
    }
    keyless = dataclasses.replace(tables[1], key=tables[1].columns, key_source="every column (no key)")
    for table, stem in (*((x, x.live) for x in tables), (keyless, f"{keyless.live}_keyless")):
        for name in ("restore_history", "restore_row", "archive_row", "restorable_keys", "copies_short"):
            scripts[f"{name}_{stem}"] = render(
                f"{name}.sql", t=table, changed_event_ids=[2020549], copy_digits=2, **common
            ).replace("%s", "0")
    return scripts


def render_samples(out_dir: Path) -> list[Path]:
    """Render every history script for a sample catalog, with and without IDENTITY."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for identity in (False, True):
        for stem, sql in sample_scripts(identity).items():
            path = out_dir / f"{stem}{'_identity' if identity else ''}.sql"
            path.write_text(sql)
            written.append(path)
    return written


if __name__ == "__main__":  # make lint: render the scripts for sqlfluff
    import sys

    for written in render_samples(Path(sys.argv[1])):
        print(written)
