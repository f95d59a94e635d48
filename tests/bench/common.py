"""What every benchmark section shares: timing and a test estate."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def timed(fn: Callable[[], object], repeat: int) -> dict[str, float]:
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
