"""The share-to-share copy on the DS lab."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tests.bench.common import timed


def bench_smb_copy(size_mib: int) -> dict:
    """Copy one file master share -> slave share on a lab, with each chunk size."""
    from airflow.providers.samba.hooks.samba import SambaHook

    from ds_replication.operators import copy_to_slave
    from tests.airflow_env import read_connections_env
    from tests.labctl import Lab

    with tempfile.TemporaryDirectory(prefix="ds-bench-") as tmp:
        lab = Lab(Path(tmp) / "lab").up(slaves=1, seed=False)
        try:
            os.environ.update(read_connections_env(lab.connections_path))
            share = Path(lab.info["hosts"]["master"]["share_dir"])
            (share / "bench.bin").write_bytes(os.urandom(size_mib * 1024 * 1024))
            results = {}
            for chunk in (64 * 1024, 4 * 1024 * 1024):
                copy_to_slave.CHUNK_BYTES = chunk

                def copy() -> None:
                    with (
                        SambaHook("ds_master_smb", share="express") as source,
                        SambaHook("ds_slave1_smb", share="express") as target,
                    ):
                        copy_to_slave.copy_file(source, target, "bench.bin")

                timing = timed(copy, 3)
                timing["mib_per_s"] = size_mib * 2 / timing["median_s"]  # the copy reads the result back
                results[f"chunk_{chunk // 1024}k"] = timing
            results["ratio_64k_to_4m"] = results["chunk_64k"]["median_s"] / results["chunk_4096k"]["median_s"]
            results["file_mib"] = size_mib
            return results
        finally:
            lab.down()
