"""`LostWorkerNotifier`: a step that changes the slave lost its worker mid-try; Airflow retries it.

A worker killed (SIGKILL, out of memory, its machine gone) cannot run a callback. The scheduler
notices the try when its heartbeats stop (`[scheduler] task_instance_heartbeat_timeout`), or when
the executor reports the task gone, and fails it; while retries are left, the DAG processor then
runs the task's *retry* callback (airflow/dag_processing/processor.py `_execute_task_callbacks`),
not its failure callback. This notifier is that retry callback: it mails only for such a lost
try, and stays silent on an ordinary retry after an exception raised in the task."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ds_replication import history
from ds_replication.notifications.mail import SlaveAlertNotifier, base_url, held_text, link_lines, send_alert

log = logging.getLogger(__name__)

INFO_BACKUP_TABLE = "ds_replication_event_schedule_info_backup"
# One alert per lost try: Airflow 3.3 runs a lost try's retry callback twice (the scheduler's
# heartbeat timeout sends one callback request and gives the executor the try's FAILED state,
# which comes back as an executor event for a task still `running`: a second request). The tries
# already alerted are kept in this Airflow Variable (JSON list, the newest ALERTED_KEPT).
# Fixed upstream after 3.3.2 (apache/airflow#68008); a TI found twice without heartbeats before
# its purge completes can also yield two requests (apache/airflow#51969).
ALERTED_VARIABLE = "ds_replication_lost_worker_alerts"
ALERTED_KEPT = 200


def was_lost(context: Mapping[str, Any]) -> bool:
    """True when the try was failed by Airflow outside the task (heartbeat timeout, executor
    reporting the task gone), False for an ordinary retry of an exception raised in the task.

    The task runner (airflow/sdk/execution_time/task_runner.py `main`, and the in-process run of
    supervisor.py) sets `context["exception"]` (the error, or None) before it runs any retry
    callback in the task's own process. The DAG processor builds its context from the scheduler's
    callback request, whose reason (`msg`) it does not pass on: its context has no `exception`
    key. Nothing more explicit reaches the callback in Airflow 3.3."""
    return "exception" not in context


def try_key(ti: Any) -> str:
    """The lost try, as kept in ALERTED_VARIABLE."""
    return f"{ti.dag_id} {ti.run_id} {ti.task_id} try {ti.try_number}"


def remembered(kept: Any, key: str) -> list[str] | None:
    """The keys to keep once `key` is alerted; None when `key` was alerted already. `kept` is
    the Variable's value (anything else than a list of strings counts as empty)."""
    keys = [k for k in kept if isinstance(k, str)] if isinstance(kept, list) else []
    if key in keys:
        return None
    return [*keys, key][-ALERTED_KEPT:]


def _alerted_tries() -> Any:
    from airflow.sdk import Variable

    return Variable.get(ALERTED_VARIABLE, default=[], deserialize_json=True)


def _keep_alerted_tries(keys: list[str]) -> None:
    from airflow.sdk import Variable

    Variable.set(
        ALERTED_VARIABLE,
        keys,
        description="Tries of DS replication steps whose lost worker was alerted (one mail per lost try).",
        serialize_json=True,
    )


def tries(ti: Any) -> tuple[int, int]:
    """(the lost try's number, the tries Airflow allows): try N of M. `max_tries` is the last
    try number that may still be retried, so M = max_tries + 1."""
    max_tries = getattr(ti, "max_tries", None)
    if max_tries is None:
        max_tries = ti.task.retries
    return int(ti.try_number), int(max_tries) + 1


def lost_worker_mail(
    *,
    slave_name: str,
    database: str,
    mssql_conn_id: str,
    context: Mapping[str, Any],
    held: int | None,
    base: str | None,
) -> tuple[str, list[str]]:
    """The subject and lines of the lost worker's alert."""
    ti = context["ti"]
    run_id = context["run_id"]
    lost, allowed = tries(ti)
    host = getattr(ti, "hostname", None) or "unknown"
    subject = (
        f"[DS replication] {slave_name}: worker lost during {ti.task_id} (try {lost} of {allowed}), "
        f"Airflow retries it; {held_text(held)} history rows held"
    )
    lines = [
        f"Slave: {slave_name} (database {database}, connection {mssql_conn_id})",
        f"DAG: {ti.dag_id}  run: {run_id}  task: {ti.task_id}  try: {lost} of {allowed}",
        f"The worker running {ti.task_id} (host {host}, queue {getattr(ti, 'queue', None) or 'default'}) "
        "was lost while the step was changing the slave: killed, out of memory or its machine gone (the "
        "task's heartbeats stopped, or the executor reported the task ended without the task saying so; "
        f"the scheduler's log has which). Airflow failed try {lost} and retries the step "
        f"(try {lost + 1} of {allowed}) on a worker of the same queue; every step is safe to repeat.",
        f"History rows held in {history.BACKUP_TABLE} on the slave: {held_text(held)}. The backup tables "
        f"({history.BACKUP_TABLE}, and {INFO_BACKUP_TABLE} where the slave has job details) stay on the slave "
        "until verify_history has checked that every row is live again or archived: do not drop them by hand.",
        *link_lines(ti.dag_id, run_id, base),
        "",
        "Nothing needs doing unless the run then fails: if the retry fails too, the failure alert follows, "
        "with how to recover.",
    ]
    return subject, lines


class LostWorkerNotifier(SlaveAlertNotifier):
    """The retry callback of a step that changes the slave: mails the admins when the try was
    lost with its worker (and Airflow retries it); silent on an ordinary retry."""

    def notify(self, context: Any) -> None:
        if not was_lost(context):
            return  # an exception in the task: Airflow retries it, the failure alert follows if it fails
        if not self.to:
            log.warning("no alert_emails configured for slave %s: lost worker alert not sent", self.slave_name)
            return
        key = try_key(context["ti"])
        keep: list[str] | None = []  # empty: the tries alerted are not known, nothing is recorded
        try:
            keep = remembered(_alerted_tries(), key)
        except Exception as error:  # a second mail is better than none
            log.warning("alerted tries not readable (%s): the alert may go out twice", type(error).__name__)
        if keep is None:
            log.info("lost worker of %s already alerted", key)
            return
        subject, lines = lost_worker_mail(
            slave_name=self.slave_name,
            database=self.database,
            mssql_conn_id=self.mssql_conn_id,
            context=context,
            held=self.held_rows(),
            base=base_url(),
        )
        send_alert(subject=subject, lines=lines, **self.mail)
        try:
            if keep:
                _keep_alerted_tries(keep)
        except Exception as error:
            log.warning("alerted try not recorded (%s): the alert may go out twice", type(error).__name__)
        # Not recorded as the `alert` XCom for the replication page: the DAG processor cannot
        # write XComs (its supervisor serves reads only), and the retry's start clears the
        # task's XComs anyway.
