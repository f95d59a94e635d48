"""`make bench`: speed figures, written as JSON and compared as ratios within one run.

- config: parsing and validating an estate of 1 and 500 slaves (ratio: cost per slave).
- dags: building the DAGs of 1 and 500 slaves, as the DAG processor does on every parse.
- smb_copy: the share-to-share copy on the DS lab with 64 KiB and 4 MiB chunks (ratio).

Nothing here asserts a time: the figures are for reading and comparing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _timed(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return {"median_s": statistics.median(runs), "min_s": min(runs), "runs": repeat}


def estate_text(slaves: int) -> str:
    config = yaml.safe_load((REPO / "include" / "config" / "replication.yaml").read_text())
    config["slaves"] = [{"name": f"site_{n:03d}"} for n in range(1, slaves + 1)]
    return yaml.safe_dump(config)


def bench_config(repeat: int) -> dict:
    from ds_replication.config import parse_estate

    small, large = estate_text(1), estate_text(500)
    one = _timed(lambda: parse_estate(small), repeat)
    many = _timed(lambda: parse_estate(large), repeat)
    return {"slaves_1": one, "slaves_500": many, "ratio_500_to_1": many["median_s"] / one["median_s"]}


def bench_dags(repeat: int) -> dict:
    from ds_replication.config import parse_estate
    from ds_replication.factory import build_dags

    small, large = parse_estate(estate_text(1)), parse_estate(estate_text(500))
    one = _timed(lambda: build_dags(small), repeat)
    many = _timed(lambda: build_dags(large), max(1, repeat // 3))
    return {
        "slaves_1": one,
        "slaves_500": many,
        "per_slave_ms_at_500": many["median_s"] / 500 * 1000,
        "ratio_500_to_1": many["median_s"] / one["median_s"],
    }


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

                timing = _timed(copy, 3)
                timing["mib_per_s"] = size_mib * 2 / timing["median_s"]  # the copy reads the result back
                results[f"chunk_{chunk // 1024}k"] = timing
            results["ratio_64k_to_4m"] = results["chunk_64k"]["median_s"] / results["chunk_4096k"]["median_s"]
            results["file_mib"] = size_mib
            return results
        finally:
            lab.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(REPO / "bench-results" / "bench.json"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--copy-mib", type=int, default=32)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "plugins"))
    home = tempfile.mkdtemp(prefix="ds-bench-airflow-")
    os.environ.update({"AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    try:
        results = {
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
            },
            "config": bench_config(args.repeat),
            "dags": bench_dags(args.repeat),
            "smb_copy": bench_smb_copy(args.copy_mib),
        }
    finally:
        shutil.rmtree(home, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
