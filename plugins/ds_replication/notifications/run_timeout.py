"""`RunTimeoutNotifier`: a run stopped at its bound (dagrun_timeout) mails the slave's admins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ds_replication.notifications.mail import SlaveAlertNotifier, mail_to

if TYPE_CHECKING:
    from typing import Self

    from ds_replication.config import Estate, SlaveConfig


class RunTimeoutNotifier(SlaveAlertNotifier):
    """The DAG's failure callback: alerts when the run was stopped at its bound (dagrun_timeout).
    A failed step alerts through its own callback; this one speaks only for a run that hung."""

    def __init__(self, *, run_minutes: float, export_pool: str, **slave_alert: Any) -> None:
        super().__init__(**slave_alert)
        self.run_minutes = run_minutes
        self.export_pool = export_pool

    @classmethod
    def for_slave(cls, estate: Estate, slave: SlaveConfig) -> Self:
        """Also the run's bound (the slave's) and the master's export pool, which the mail names."""
        return cls(
            slave_name=slave.name,
            mssql_conn_id=slave.mssql_conn_id,
            database=slave.database,
            **mail_to(slave),
            run_minutes=slave.run_minutes(),
            export_pool=estate.master.export_pool,
        )

    def notify(self, context: Any) -> None:
        if context.get("reason") != "timed_out":
            return
        dag_id = context["dag"].dag_id
        self.send_held_alert(
            dag_id=dag_id,
            run_id=context.get("run_id"),
            what=f"run stopped after {self.run_minutes:g} min",
            situation=[
                f"Slave: {self.slave_name}",
                f"DAG: {dag_id}  run: {context.get('run_id')}",
                f"The run was stopped after {self.run_minutes:g} minutes (run_timeout_minutes): longer than one try "
                "of every step at its bound. Look for a task that never started (is the pool "
                f"{self.export_pool} there? airflow pools list, where the command below runs) or a step that hung.",
            ],
        )
