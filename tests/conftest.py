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
            module, _, rest = nodeid.partition("::")
            if module.endswith("/test_faults.py") and "[" in rest:
                return f"{module}-{zlib.crc32(rest.encode()) % FAULT_GROUPS}"
            return module

    config.option.loadscopereorder = False  # the order is LONGEST_FIRST's
    return ModuleScheduling(config, log)
