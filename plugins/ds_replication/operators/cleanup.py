"""`cleanup`: remove the run's files from both shares, whatever happened before."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from ds_replication.run_files import slave_file_pattern
from ds_replication.shares import open_share


class CleanupSharesOperator(BaseOperator):
    """Delete this slave's export files (and partial copies) on the master's and the slave's share.

    Files are found by the names this slave's runs write (`slave_file_pattern`), not read from
    XCom, so files of a run that failed half-way, or whose own cleanup failed, go too (`max_active_runs=1`: no other run
    of this slave can be using them). Missing files are fine: the step is safe to repeat.
    """

    template_fields: Sequence[str] = ("master_smb_conn_id", "slave_smb_conn_id")

    def __init__(
        self,
        *,
        slave_name: str,
        master_smb_conn_id: str,
        master_share: str,
        slave_smb_conn_id: str,
        slave_share: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.slave_name = slave_name
        self.master_smb_conn_id = master_smb_conn_id
        self.master_share = master_share
        self.slave_smb_conn_id = slave_smb_conn_id
        self.slave_share = slave_share

    def _remove(self, conn_id: str, share: str) -> list[str]:
        pattern = slave_file_pattern(self.slave_name)
        with open_share(conn_id, share) as hook:
            names = sorted(n for n in hook.listdir("") if pattern.fullmatch(n))
            for name in names:
                hook.remove(name)
        return names

    def execute(self, context: Any) -> dict[str, Any]:
        removed = {
            "master": self._remove(self.master_smb_conn_id, self.master_share),
            "slave": self._remove(self.slave_smb_conn_id, self.slave_share),
        }
        self.log.info("removed %s", removed)
        return removed
