"""`cleanup`: remove the run's files from both shares, whatever happened before."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from ds_replication.operators.share_copy import _samba
from ds_replication.run_files import export_file_names, partial_name, selected_folders


class CleanupSharesOperator(BaseOperator):
    """Delete this run's export files (and partial copies) on the master's and the slave's share.

    The names are derived from the run, not read from XCom, so a run that failed half-way
    is cleaned up too. Missing files are fine: the step is safe to repeat.
    """

    template_fields: Sequence[str] = ("master_smb_conn_id", "slave_smb_conn_id")

    def __init__(
        self,
        *,
        slave_name: str,
        folders: list[dict[str, Any]],
        master_smb_conn_id: str,
        master_share: str,
        slave_smb_conn_id: str,
        slave_share: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.slave_name = slave_name
        self.folders = folders
        self.master_smb_conn_id = master_smb_conn_id
        self.master_share = master_share
        self.slave_smb_conn_id = slave_smb_conn_id
        self.slave_share = slave_share

    def _remove(self, conn_id: str, share: str, names: list[str]) -> list[str]:
        removed = []
        with _samba(conn_id, share) as hook:
            present = set(hook.listdir(""))
            for name in names:
                if name in present:
                    hook.remove(name)
                    removed.append(name)
        return removed

    def execute(self, context: Any) -> dict[str, Any]:
        folders = selected_folders(self.folders, context["params"])
        files = export_file_names(self.slave_name, context["run_id"], folders)
        removed = {
            "master": self._remove(self.master_smb_conn_id, self.master_share, files),
            "slave": self._remove(
                self.slave_smb_conn_id, self.slave_share, files + [partial_name(f) for f in files]
            ),
        }
        self.log.info("removed %s", removed)
        return removed
