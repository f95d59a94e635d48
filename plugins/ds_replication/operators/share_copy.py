"""`copy_to_slave`: stream the export files from the master's share to the slave's share."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from ds_replication.run_files import partial_name
from ds_replication.shares import open_share

# SMB reads and writes in 4 MiB pieces: several times faster than the 64 KiB default.
CHUNK_BYTES = 4 * 1024 * 1024


def _sha256_of(hook: Any, path: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with hook.open_file(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def copy_file(source: Any, target: Any, name: str) -> tuple[int, str]:
    """Copy `name` between two open SambaHooks; the target name appears only once verified."""
    part = partial_name(name)
    digest, size = hashlib.sha256(), 0
    with source.open_file(name, "rb") as reader, target.open_file(part, "wb") as writer:
        while chunk := reader.read(CHUNK_BYTES):
            writer.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    copied_size, copied_digest = _sha256_of(target, part)
    if (copied_size, copied_digest) != (size, digest.hexdigest()):
        raise AirflowException(
            f"copy of {name} does not match: read {size} bytes sha256 {digest.hexdigest()}, "
            f"slave has {copied_size} bytes sha256 {copied_digest}; the partial copy {part} is not used"
        )
    target.replace(part, name)
    return size, copied_digest


class CopyToSlaveOperator(BaseOperator):
    """Copy the run's export files share to share through the worker, verified by size and sha256."""

    template_fields: Sequence[str] = (
        "master_smb_conn_id",
        "slave_smb_conn_id",
        "master_share",
        "slave_share",
    )
    ui_color = "#cfe2f3"

    def __init__(
        self,
        *,
        master_smb_conn_id: str,
        master_share: str,
        slave_smb_conn_id: str,
        slave_share: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.master_smb_conn_id = master_smb_conn_id
        self.master_share = master_share
        self.slave_smb_conn_id = slave_smb_conn_id
        self.slave_share = slave_share

    def execute(self, context: Any) -> dict[str, Any]:
        files = context["ti"].xcom_pull(task_ids="export_jobs")["files"]
        copied: dict[str, dict[str, Any]] = {}
        with (
            open_share(self.master_smb_conn_id, self.master_share) as source,
            open_share(self.slave_smb_conn_id, self.slave_share) as target,
        ):
            for name in files:
                size, digest = copy_file(source, target, name)
                copied[name] = {"bytes": size, "sha256": digest}
                self.log.info("copied %s: %d bytes, sha256 %s", name, size, digest)
        return {"files": copied, "bytes": sum(c["bytes"] for c in copied.values())}
