"""CPU seconds spent by process trees and by the whole machine between two readings: where a
round's CPU went (ours, the lab's, the rest of the machine's), from /proc via psutil.

A tree's CPU is each live process's user + system time plus what it has reaped of its children;
a process that ends between two readings is counted in its parent's reaped time by the second."""

from __future__ import annotations

import time

import psutil


def tree_cpu(pid: int, seen: set[int]) -> float:
    """CPU seconds of `pid` and its descendants so far, skipping (and adding to) `seen`."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        if proc.pid in seen:
            continue
        seen.add(proc.pid)
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def machine_busy() -> float:
    """CPU seconds the machine's cores spent on anything but idling, since boot."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


class Meter:
    """`reading()` before and after; `spent(before, after)` the CPU seconds per group between."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups

    def reading(self) -> dict[str, float]:
        seen: set[int] = set()
        values = {name: sum(tree_cpu(pid, seen) for pid in pids) for name, pids in self.groups.items()}
        return {**values, "machine": machine_busy(), "wall": time.monotonic()}

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        spent = {name: after[name] - before[name] for name in before}
        spent["others"] = spent["machine"] - sum(v for k, v in spent.items() if k not in ("machine", "wall"))
        spent["cores"] = psutil.cpu_count()
        spent["machine_busy_share"] = spent["machine"] / (spent["wall"] * spent["cores"])
        return spent
