"""Every test process gets a private, throw-away AIRFLOW_HOME before Airflow is imported."""

from __future__ import annotations

import os
import shutil
import tempfile
import zlib

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="ds-airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__PARALLELISM"] = "4"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ.pop("DS_REPLICATION_CONFIG", None)

FAULT_GROUPS = 2
# Modules that start servers and run DAGs go to the workers first, the longest first, so that no
# long module starts last (xdist would start the modules with the most tests first: the unit
# tests); the first matching prefix decides.
LONGEST_FIRST = (
    "tests/e2e/test_celery.py",
    "tests/e2e/test_faults.py",
    "tests/e2e/test_live_history.py",
    "tests/browser/",
    "tests/e2e/test_page.py",
    "tests/e2e/",
    "tests/integration/",
    "tests/lab_tests/",
    "tests/",
)


def pytest_unconfigure(config):
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


def work_unit(nodeid: str) -> str:
    """What one xdist worker runs as a whole: a module, or one of the fault matrix's groups."""
    module, _, rest = nodeid.partition("::")
    if module.endswith("/test_faults.py") and "[" in rest:
        return f"{module}-{zlib.crc32(rest.encode()) % FAULT_GROUPS}"
    return module


# (worker, work unit, start, stop) of every test phase the xdist controller was told of
_SPANS: list[tuple[str, str, float, float]] = []


def pytest_runtest_logreport(report):
    node = getattr(report, "node", None)  # set on the controller for a worker's report
    if node is not None and report.start:
        _SPANS.append((node.gateway.id, work_unit(report.nodeid), report.start, report.stop))


def pytest_terminal_summary(terminalreporter):
    """Under xdist: when each worker ended, and the work units that ended last and took longest,
    so that a slow suite shows whether its time went to a long tail or to the work itself."""
    if not _SPANS:
        return
    began = min(start for _, _, start, _ in _SPANS)
    units: dict[tuple[str, str], list[float]] = {}
    for worker, unit, start, stop in _SPANS:
        span = units.setdefault((worker, unit), [start, stop])
        span[0], span[1] = min(span[0], start), max(span[1], stop)

    def clock(moment: float) -> str:
        return f"{int(moment - began) // 60}:{int(moment - began) % 60:02d}"

    write = terminalreporter.write_line
    terminalreporter.section("work units by xdist worker (start-end, minutes:seconds from the first test)")
    for worker in sorted({w for w, _ in units}):
        mine = sorted(((s, e, u) for (w, u), (s, e) in units.items() if w == worker), key=lambda x: x[1])
        busy = sum(e - s for s, e, _ in mine)
        write(f"{worker}: ended {clock(mine[-1][1])}, {len(mine)} units, {busy / 60:.1f} min in them; last:")
        for start, stop, unit in mine[-3:]:
            write(f"    {clock(start)}-{clock(stop)} {unit}")
    write("longest:")
    for (worker, unit), (start, stop) in sorted(units.items(), key=lambda kv: kv[1][0] - kv[1][1])[:12]:
        write(f"    {stop - start:6.0f} s  {clock(start)}-{clock(stop)} {worker} {unit}")


def pytest_xdist_make_scheduler(config, log):
    """`make test` runs the suite on several pytest-xdist workers. Each module's tests stay on one
    worker so its lab starts once, except the fault matrix, the longest module, whose cases are
    independent: they are dealt to FAULT_GROUPS groups, each with a lab of its own.

    pytest-xdist 3.8's `loadgroup` no longer groups under pytest 9 (it renames `item._nodeid`,
    which pytest 9 ignores), so the grouping is this scheduler's own."""
    from xdist.scheduler import LoadScopeScheduling

    def rank(nodeid: str) -> int:
        return next(n for n, prefix in enumerate(LONGEST_FIRST) if nodeid.startswith(prefix))

    class ModuleScheduling(LoadScopeScheduling):
        def _assign_work_unit(self, node) -> None:
            # the next module handed out is the longest-ranked left (the first of equals)
            scope = min(self.workqueue, key=rank)
            self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # the order is LONGEST_FIRST's
    return ModuleScheduling(config, log)
