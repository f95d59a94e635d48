"""The T-SQL templates: every one linted, every rendered script logged, unsafe values refused."""

from __future__ import annotations

import logging

import pytest

from ds_replication.templates import SQL_DIR, render, sample_scripts


def test_every_template_is_rendered_for_the_lint():
    """make lint and test_history_sql lint what sample_scripts renders: a template missing there is never linted."""
    rendered = set(sample_scripts(False)) | set(sample_scripts(True))
    templates = {p.stem for p in SQL_DIR.glob("*.sql") if not p.stem.startswith("_")}
    # restore_history and the row scripts are rendered per table: restore_row_event_schedule, ...
    unlinted = {t for t in templates if not any(r == t or r.startswith(f"{t}_") for r in rendered)}
    # fingerprint_table.sql is included by backup_history.sql, not run on its own
    assert unlinted == {"fingerprint_table"}


def test_each_rendered_script_is_logged_at_info(caplog):
    with caplog.at_level(logging.INFO, logger="ds_replication.templates"):
        sql = render("catalog_columns.sql", table="event_schedule")
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert "catalog_columns.sql" in record.getMessage()
    assert sql.strip() in record.getMessage()
    assert "OBJECT_ID(N'dbo.event_schedule')" in sql


@pytest.mark.parametrize(
    ("template", "context"),
    [
        ("catalog_columns.sql", {"table": "event'); DROP TABLE event; --"}),
        ("catalog_primary_key.sql", {"table": "event schedule"}),
        ("catalog_existing_tables.sql", {"names": ["ds_replication_event_schedule_backup", "x'y"]}),
        ("armed_triggers.sql", {"names": ["trigger]"]}),
        ("job_rows.sql", {"table": "event]; DROP TABLE event; --"}),
        ("held_rows.sql", {"table": "a.b"}),
    ],
)
def test_a_name_that_is_not_a_plain_identifier_never_reaches_the_sql(template, context):
    with pytest.raises(ValueError, match="not a safe SQL identifier"):
        render(template, **context)


def test_event_ids_written_into_the_sql_must_be_integers():
    assert "WHERE event_id IN (7, 9)" in render("job_names.sql", event_ids=[7, 9])
    with pytest.raises(ValueError, match="not an integer event_id"):
        render("job_names.sql", event_ids=[7, "9) OR (1 = 1"])


def test_the_database_name_is_quoted_or_refused():
    assert "USE [express];" in render("transaction_begin.sql", database="express")
    with pytest.raises(ValueError, match="not a safe SQL identifier"):
        render("transaction_begin.sql", database="express]; DROP DATABASE express; --")


def test_templates_missing_beside_the_package_is_a_clear_error(tmp_path, monkeypatch):
    """A wheel installed without the project's include/ folder: say where the SQL was looked for."""
    from ds_replication import templates

    monkeypatch.setattr(templates, "SQL_DIR", tmp_path / "include" / "sql")
    with pytest.raises(FileNotFoundError, match=r"not at .*include/sql: run the package from the project's plugins/"):
        render("server_version.sql")


def test_a_template_is_compiled_once_per_process():
    """Jinja compiles a template to Python on first use (about 10 ms of CPU a script): every
    render after the first takes the compiled one (a new environment per render compiled
    each script again, about a second of CPU in a history restore; docs/performance.md)."""
    from ds_replication import templates

    env = templates._environment()
    assert templates._environment() is env
    compiled = env.get_template("server_version.sql")
    render("server_version.sql")
    assert env.get_template("server_version.sql") is compiled
