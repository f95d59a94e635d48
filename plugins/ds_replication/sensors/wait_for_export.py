"""`wait_for_export`: the run's export files are complete on the master's share."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue

from ds_replication.ds_host import DsHost
from ds_replication.sensors import poke_again

if TYPE_CHECKING:  # the SMB client is imported by the task that uses it
    from ds_replication.hooks.share import DsShareHook


class ExportFileSensor(BaseSensorOperator):
    """The run's export files exist on the master's share, are not empty and no longer grow.

    :param master: the master.
    :param export: export_jobs' result (templated: an XComArg): its `files`.
    :param settle_seconds: how long a file's size must stay the same.
    """

    template_fields: Sequence[str] = ("export",)

    def __init__(self, *, master: DsHost, export: Any, settle_seconds: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.master = master
        self.export = export
        self.settle_seconds = settle_seconds

    @staticmethod
    def _sizes(share: DsShareHook, files: list[str]) -> dict[str, int]:
        present = set(share.listdir(""))
        return {name: share.lstat(name).st_size for name in files if name in present}

    def poke(self, context: Context) -> PokeReturnValue | bool:
        files = self.export["files"]
        try:
            with self.master.share_hook() as share:
                first = self._sizes(share, files)
                time.sleep(self.settle_seconds)
                second = self._sizes(share, files)
        except Exception as error:
            return poke_again(self, f"master share {self.master.share} ({self.master.smb_conn_id}) not readable", error)
        missing = [f for f in files if f not in second]
        if missing or first != second or 0 in second.values():
            self.log.info("waiting for export files: missing %s, sizes %s then %s", missing, first, second)
            return False
        return PokeReturnValue(is_done=True, xcom_value={"sizes": second})
