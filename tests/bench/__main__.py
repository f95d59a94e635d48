"""`make bench`: speed figures, written as JSON and compared as ratios within one run.

- config: parsing and validating an estate of 1 and 500 slaves (ratio: cost per slave).
- dags: building the DAGs of 1 and 500 slaves, as the DAG processor does on every parse.
- smb_copy: the share-to-share copy on the DS lab against smbclient, 64 KiB to 256 MiB and 50 small files
  (tests/bench/copy.py; alone and quicker: `python -m tests.bench.copy --quick`).
- history: backup, backup check, restore and verify at 10k/100k/1M history rows vs a bare
  INSERT ... SELECT of the same rows through the same lab server (tests/bench/history.py).

Nothing here asserts a time: the figures are for reading and comparing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from tests.bench.common import REPO
from tests.bench.copy import bench_smb_copy
from tests.bench.history import SIZES, bench_history
from tests.bench.parse import bench_config, bench_dags


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(REPO / "bench-results" / "bench.json"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--history-rows",
        default=",".join(map(str, SIZES)),
        help="history sizes for the history section, comma-separated (default %(default)s)",
    )
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
            "smb_copy": bench_smb_copy(),
            "history": bench_history(tuple(int(n) for n in args.history_rows.split(",") if n)),
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
