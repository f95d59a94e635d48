"""`copy_to_slave`: stream the export files from the master's share to the slave's share."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from airflow.providers.samba.hooks.samba import SambaHook
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException

from ds_replication.ds_host import DsHost
from ds_replication.run_files import partial_name

# SMB reads and writes in 4 MiB pieces: several times faster than the 64 KiB default.
CHUNK_BYTES = 4 * 1024 * 1024


def _sha256_of(hook: SambaHook, path: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with hook.open_file(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def copy_file(source: SambaHook, target: SambaHook, name: str) -> tuple[int, str]:
    """Copy `name` between two open share hooks; the target name appears only once verified."""
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
    """Copy the run's export files share to share through the worker, verified by size and sha256.

    :param master: the master (the files are on its share).
    :param slave: the slave (they go to its share).
    :param export: export_jobs' result (templated: an XComArg): its `files`.
    """

    template_fields: Sequence[str] = ("export",)
    ui_color = "#cfe2f3"

    def __init__(self, *, master: DsHost, slave: DsHost, export: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.master = master
        self.slave = slave
        self.export = export

    def execute(self, context: Context) -> dict[str, Any]:
        copied: dict[str, dict[str, Any]] = {}
        with self.master.share_hook() as source, self.slave.share_hook() as target:
            for name in self.export["files"]:
                size, digest = copy_file(source, target, name)
                copied[name] = {"bytes": size, "sha256": digest}
                self.log.info("copied %s: %d bytes, sha256 %s", name, size, digest)
        return {"files": copied, "bytes": sum(c["bytes"] for c in copied.values())}
