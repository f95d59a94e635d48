"""`cleanup`: remove the run's files from both shares, whatever happened before."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, Context

from ds_replication.ds_host import DsHost
from ds_replication.run_files import slave_file_pattern


class CleanupSharesOperator(BaseOperator):
    """Delete this slave's export files (and partial copies) on the master's and the slave's share.

    Files are found by the names this slave's runs write (`slave_file_pattern`), not read from
    XCom, so files of a run that failed half-way, or whose own cleanup failed, go too (`max_active_runs=1`: no other run
    of this slave can be using them). Missing files are fine: the step is safe to repeat.

    :param master: the master; :param slave: the slave.
    """

    def __init__(self, *, master: DsHost, slave: DsHost, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.master = master
        self.slave = slave

    def execute(self, context: Context) -> dict[str, Any]:
        pattern = slave_file_pattern(self.slave.name)
        removed = {"master": self.master.remove_matching(pattern), "slave": self.slave.remove_matching(pattern)}
        self.log.info("removed %s", removed)
        return removed
