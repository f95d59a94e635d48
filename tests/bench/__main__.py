"""`make bench`: the benchmark of record, every figure a ratio against its anchor measured in
the same run, written as JSON (bench-results/bench.json) and a PNG chart of the ratios
(bench-results/bench.png).

Sections (`--sections a,b` runs some; `--quick` runs each at small sizes):
- config: parsing and validating an estate of 1 and 500 slaves (ratio: cost per slave).
- dags: building the DAGs of 1 and 500 slaves in-process.
- parse: the DAG file at 1/50/500 slaves against a plain file of as many EmptyOperator DAGs,
  in the DAG processor and at a task start, each in a fresh process.
- orchestration: one slave's run under a real scheduler, and N slaves at once (1, 4, 20) against one.
- smb_copy: the share-to-share copy on the DS lab against smbclient, 64 KiB to 256 MiB and 50 small files
  (tests/bench/copy.py; alone and quicker: `python -m tests.bench.copy --quick`).
- history: backup, backup check, restore and verify at 10k/100k/1M history rows vs a bare
  INSERT ... SELECT of the same rows through the same lab server (tests/bench/history.py).

A section's result may carry "ratios" ({name: {"ratio", "target"}}): the chart draws those.
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
import traceback
from collections.abc import Callable
from pathlib import Path

from tests.bench import chart
from tests.bench.common import REPO
from tests.bench.copy import bench_smb_copy
from tests.bench.history import SIZES, bench_history
from tests.bench.orchestration import bench_orchestration
from tests.bench.parse import bench_config, bench_dags, bench_parse

# One line per section: name -> the section run with the parsed options.
SECTIONS: dict[str, Callable[[argparse.Namespace], dict]] = {
    "config": lambda a: bench_config(a.repeat),
    "dags": lambda a: bench_dags(a.repeat),
    "parse": lambda a: bench_parse((1, 50) if a.quick else (1, 50, 500), 1 if a.quick else a.repeat),
    "orchestration": lambda a: bench_orchestration((1, 4) if a.quick else (1, 4, 20)),
    "smb_copy": lambda a: bench_smb_copy(quick=a.quick),
    "history": lambda a: bench_history((2_000, 10_000) if a.quick else a.history_rows),
}


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "bench-results" / "bench.json"), help="the JSON; the PNG beside it")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes and one run each: minutes, not an hour")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (the parse section: fresh processes)")
    parser.add_argument(
        "--history-rows",
        default=",".join(map(str, SIZES)),
        help="history sizes for the history section, comma-separated (default %(default)s)",
    )
    args = parser.parse_args(argv)
    args.sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    args.history_rows = tuple(int(n) for n in args.history_rows.split(",") if n)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def run(args: argparse.Namespace) -> dict:
    """The chosen sections' results, with the machine they ran on."""
    sys.path.insert(0, str(REPO / "plugins"))
    home = tempfile.mkdtemp(prefix="ds-bench-airflow-")
    saved = {key: os.environ.get(key) for key in ("AIRFLOW_HOME", "AIRFLOW__CORE__LOAD_EXAMPLES")}
    os.environ.update({"AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    results: dict = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_1min_at_start": os.getloadavg()[0],
        },
        "options": {"sections": args.sections, "quick": args.quick, "repeat": args.repeat},
    }
    try:
        for name in args.sections:
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            try:
                results[name] = SECTIONS[name](args)
            except Exception as error:  # the other sections' figures are kept; the exit status says it
                traceback.print_exc()
                results[name] = {"error": f"{type(error).__name__}: {error}"[:4000]}
    finally:
        shutil.rmtree(home, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return results


def write(results: dict, out: Path) -> tuple[Path, Path | None]:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return out, chart.draw(results, out.with_suffix(".png"))


def why(results: dict, label: str) -> str | None:
    """The measured reason a section gave for the ratio `label` ("section: name")."""
    section, _, name = label.partition(": ")
    return results.get(section, {}).get("ratios", {}).get(name, {}).get("why")


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    results = run(args)
    out, png = write(results, Path(args.out))
    print(json.dumps(results, indent=2))
    for label, ratio, target in chart.ratios(results):
        print(f"{label}: {ratio:.2f}x" + (f" (target {target}x)" if target is not None else ""))
        if target is not None and ratio > target:
            print(f"  not met: {why(results, label) or 'no reason measured'}")
    print(f"written to {out}" + (f" and {png}" if png else ""))
    failed = [name for name in args.sections if "error" in results[name]]
    if failed:
        print(f"failed section(s): {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
