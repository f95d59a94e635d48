"""The alert mail: what is held where, how to recover, and links to the run and the replication
page; sent through the smtp provider."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from airflow.sdk import BaseNotifier

from ds_replication import history
from ds_replication.hooks.database import DsDatabaseHook

if TYPE_CHECKING:
    from typing import Self

    from ds_replication.config import Estate, SlaveConfig

log = logging.getLogger(__name__)

# Only a new run recovers: a failed run's cleanup teardown has already removed its export
# files, so clearing its failed task (import_jobs above all) has nothing left to import.
RECOVERY = (
    "The history backup table ds_replication_event_schedule_backup (and ds_replication_event_schedule_info_backup) "
    "on the slave is kept with every row: do not drop it by hand. Fix the cause, then trigger the DAG again (a new "
    "run of all folders; or wait for the next scheduled run). Do not clear the failed task: the run's cleanup has "
    "already removed its export files. The next run's preflight puts back the rows whose jobs exist, the next "
    "successful import and restore put back the rest, and verify_history drops the backup only when every "
    "row is live again or archived in ds_replication_event_schedule_archive. See docs/recovery.md, 'Recovering "
    "from a failed night'."
)
# The replication page's address under Airflow's (the plugin's app, ds_replication_plugin.py).
PAGE_ROUTE = "ds-replication"
# Where a task records the alert it sent (XCom key), for the replication page.
ALERT_XCOM_KEY = "alert"


def trigger_command(dag_id: str) -> str:
    return (
        f"To recover, after fixing the cause: trigger a new run of {dag_id} (the DAG's Trigger button in the "
        "Airflow UI, or the replication page's \"Trigger a new run\"), or run, where Airflow's command line is "
        f"set up for this Airflow (the scheduler's machine, with its AIRFLOW_HOME): airflow dags trigger {dag_id}"
    )


def base_url() -> str | None:
    """Airflow's `[api] base_url` (the address users open the UI at), None when not set."""
    from airflow.sdk import conf

    value = conf.get("api", "base_url", fallback=None)
    return value.rstrip("/") if value else None


def link_lines(dag_id: str, run_id: str | None, base: str | None) -> list[str]:
    """Links to the run's page and to the replication page, made from `base` (`[api] base_url`)."""
    if not base:
        return ["Links to the run and the replication page: set [api] base_url in Airflow's configuration."]
    lines = []
    if run_id:
        lines.append(f"This run: {base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}")
    lines.append(f"Replication page (every slave, rows held now): {base}/{PAGE_ROUTE}/")
    return lines


T = TypeVar("T")


def _read_slave(mssql_conn_id: str, database: str, read: Callable[[Any], T], unreadable: T) -> T:
    """`read` over one connection to the slave; `unreadable` when the slave cannot be reached."""
    try:
        with DsDatabaseHook(mssql_conn_id, database).connect() as conn:
            return read(conn)
    except Exception as error:  # the alert must go out even when the slave is unreachable
        log.warning("slave database not reachable for the held row count: %s", type(error).__name__)
        return unreadable


def held_rows(mssql_conn_id: str, database: str) -> int | None:
    """The history rows held in the slave's backup now; None when the slave cannot be read."""
    return _read_slave(mssql_conn_id, database, history.held_rows, None)


def held_and_sessions(mssql_conn_id: str, database: str) -> tuple[int | None, list[str]]:
    """The held rows (held_rows) and the lines naming those another session than aximport deleted
    (outside_import_lines), over one connection to the slave."""
    return _read_slave(
        mssql_conn_id, database, lambda conn: (history.held_rows(conn), outside_import_lines(conn)), (None, [])
    )


def outside_import_lines(conn: Any) -> list[str]:
    """The held rows another session than aximport deleted, per session (capture_sessions); none
    when there are none or they cannot be read (the mail still goes out)."""
    from ds_replication import capture_sessions

    try:
        report = capture_sessions.report(conn)
    except Exception as error:
        log.warning("slave database not readable for the captured rows' sessions: %s", type(error).__name__)
        return []
    return capture_sessions.report_lines(report)


def held_text(held: int | None) -> str:
    return "unknown (slave database not reachable)" if held is None else str(held)


def mail_to(slave: SlaveConfig) -> dict[str, Any]:
    """Where the slave's alert mails go, as send_alert takes it: `smtp_conn_id`, `from_email`, `to`."""
    return {"smtp_conn_id": slave.smtp_conn_id, "from_email": slave.alert_from, "to": list(slave.alert_emails)}


def send_alert(*, smtp_conn_id: str, from_email: str, to: list[str], subject: str, lines: list[str]) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    body = "<br>\n".join(_line_html(line) for line in lines)
    with SmtpHook(smtp_conn_id=smtp_conn_id) as hook:
        hook.send_email_smtp(to=to, subject=subject, html_content=body, from_email=from_email)
    log.info("alert sent to %s: %s", to, subject)


def _line_html(line: str) -> str:
    """A line of the mail as HTML; a line ending in a URL gets it as a link."""
    head, sep, url = line.rpartition(": ")
    if sep and url.startswith(("http://", "https://")) and " " not in url:
        return f'{html.escape(head)}: <a href="{html.escape(url)}">{html.escape(url)}</a>'
    return html.escape(line)


class SlaveAlertNotifier(BaseNotifier):
    """What every alert of a slave needs: the slave, its database (to count the rows held) and
    where the mail goes. The alerts differ only in when they speak and what they say."""

    template_fields = ("slave_name",)

    def __init__(
        self,
        *,
        slave_name: str,
        mssql_conn_id: str,
        database: str,
        to: list[str],
        smtp_conn_id: str,
        from_email: str,
    ) -> None:
        super().__init__()
        self.slave_name = slave_name
        self.mssql_conn_id = mssql_conn_id
        self.database = database
        self.to = to
        self.smtp_conn_id = smtp_conn_id
        self.from_email = from_email

    @classmethod
    def for_slave(cls, estate: Estate, slave: SlaveConfig) -> Self:
        """The notifier of `slave`, from its configuration (the one place that reads it)."""
        return cls(slave_name=slave.name, mssql_conn_id=slave.mssql_conn_id, database=slave.database, **mail_to(slave))

    @property
    def mail(self) -> dict[str, Any]:
        """Where the mail goes, as send_alert takes it."""
        return {"smtp_conn_id": self.smtp_conn_id, "from_email": self.from_email, "to": self.to}

    def held_rows(self) -> int | None:
        return held_rows(self.mssql_conn_id, self.database)

    def send_held_alert(
        self, *, dag_id: str, run_id: str | None, what: str, situation: list[str]
    ) -> dict[str, Any] | None:
        """The alert of a run that failed with the slave's history at stake: `situation` (who, what
        happened), the rows held now, how to recover, links. Returns what was sent (no secret): the
        subject, the recipients and the rows held; None when nobody is configured."""
        if not self.to:
            log.warning("no alert_emails configured for slave %s: alert not sent", self.slave_name)
            return None
        held, sessions = held_and_sessions(self.mssql_conn_id, self.database)
        subject = f"[DS replication] {self.slave_name}: {what}, {held_text(held)} history rows held"
        lines = [
            *situation,
            f"History rows held in {history.BACKUP_TABLE}: {held_text(held)}",
            *sessions,
            *link_lines(dag_id, run_id, base_url()),
            "",
            RECOVERY,
            trigger_command(dag_id),
        ]
        send_alert(subject=subject, lines=lines, **self.mail)
        return {"subject": subject, "to": list(self.to), "held_rows": held}
