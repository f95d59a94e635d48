"""Airflow's share of a task: the CPU of each task process under the bench's scheduler.

Method. A listener (an Airflow plugin in the bench's own plugins folder, beside the package's)
runs inside every task process. Airflow's executor forks that process for one try of one task,
and a forked process starts with no CPU time of its own, so `getrusage(RUSAGE_SELF)` read in it
is the CPU of that try alone: at `on_task_instance_running` (Airflow's start: the fork, parsing
the DAG file, the task's context; just before `execute`) and at `before_stopping` (the end of the
task runner, after the state is reported and the finalizers ran). Each try appends one JSON line
to the file named by DS_BENCH_TASK_CPU. Not counted: the supervisor that forks the task and
relays its logs (Airflow's too), and the scheduler.

The anchor: a DAG of EMPTY_TASKS chained `EmptyOperator` tasks (ANCHOR_DAG, a file of its own
in the bench's DAG folder) run by the same scheduler and executor. An `EmptyOperator` with no
callback is marked successful by the scheduler without a process; each anchor task has a no-op
`on_execute_callback` so that it runs as any task does.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
from pathlib import Path
from typing import Any

from airflow.listeners import hookimpl

from tests.bench.common import REPO

ENV = "DS_BENCH_TASK_CPU"
ANCHOR_DAG = "bench_empty_tasks"
EMPTY_TASKS = 5

_started: dict[str, Any] = {}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@hookimpl
def on_task_instance_running(previous_state: Any, task_instance: Any) -> None:
    _started.update(
        dag_id=task_instance.dag_id,
        task_id=task_instance.task_id,
        run_id=task_instance.run_id,
        try_number=task_instance.try_number,
        cpu_at_execute_s=_cpu(),
    )


@hookimpl
def before_stopping(component: Any) -> None:
    path = os.environ.get(ENV)
    if not path or not _started:
        return
    line = {**_started, "cpu_s": _cpu(), "pid": os.getpid()}
    with open(path, "a") as out:
        out.write(json.dumps(line) + "\n")


PLUGIN = '''"""make bench only: the task CPU listener (tests/bench/task_cpu.py)."""
from airflow.sdk.plugins_manager import AirflowPlugin

from tests.bench import task_cpu


class DsBenchTaskCpu(AirflowPlugin):
    name = "ds_bench_task_cpu"
    listeners = [task_cpu]
'''

ANCHOR_FILE = f'''"""make bench only: the anchor of a task's CPU (tests/bench/task_cpu.py)."""
import datetime as dt

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, chain


def _nothing(context):
    """A callback, so the scheduler runs the task in a process rather than marking it done."""


with DAG("{ANCHOR_DAG}", schedule=None, start_date=dt.datetime(2024, 1, 1), catchup=False) as dag:
    chain(*[EmptyOperator(task_id=f"empty_{{n}}", on_execute_callback=_nothing) for n in range({EMPTY_TASKS})])
'''


def install(dags: Path, plugins: Path) -> None:
    """The bench's DAG and plugins folders: the package's files beside the anchor and listener."""
    dags.mkdir(parents=True, exist_ok=True)
    plugins.mkdir(parents=True, exist_ok=True)
    product_plugin = REPO / "plugins" / "ds_replication_plugin.py"
    for path in (REPO / "dags").glob("*.py"):
        (dags / path.name).write_text(path.read_text())
    (dags / f"{ANCHOR_DAG}.py").write_text(ANCHOR_FILE)
    (plugins / product_plugin.name).write_text(product_plugin.read_text())
    (plugins / "ds_bench_task_cpu_plugin.py").write_text(PLUGIN)


def read(path: Path, run_ids: dict[str, str]) -> dict[str, Any]:
    """The figures of the tries of the runs named {label: run_id}: per task, CPU in all and before
    execute; and the ratios of each of our tasks to the anchor's median task."""
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    by_run: dict[str, dict[str, dict[str, float]]] = {}
    for label, run_id in run_ids.items():
        tasks: dict[str, dict[str, float]] = {}
        for line in lines:
            if line["run_id"] != run_id:
                continue
            task = tasks.setdefault(line["task_id"], {"cpu_s": 0.0, "cpu_before_execute_s": 0.0, "tries": 0})
            task["cpu_s"] += line["cpu_s"]
            task["cpu_before_execute_s"] += line["cpu_at_execute_s"]
            task["tries"] += 1
        by_run[label] = tasks
    return by_run


def summary(anchor: dict[str, dict[str, float]], ours: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Airflow's share: the anchor's median task CPU against each of our tasks and their sum."""
    if not anchor or not ours:
        raise RuntimeError(f"task CPU: no figures from the listener (anchor {len(anchor)}, ours {len(ours)} tasks)")
    empty = statistics.median(t["cpu_s"] / t["tries"] for t in anchor.values())
    empty_before = statistics.median(t["cpu_before_execute_s"] / t["tries"] for t in anchor.values())
    tries = sum(t["tries"] for t in ours.values())
    total = sum(t["cpu_s"] for t in ours.values())
    return {
        "empty_task_cpu_s": empty,
        "empty_task_cpu_before_execute_s": empty_before,
        "our_tasks": ours,
        "our_tries": tries,
        "our_cpu_s": total,
        "our_cpu_per_try_s": total / tries,
        # Airflow's share: what an empty task costs, over what one of ours costs, per try
        "airflow_share_per_task": {task: empty * t["tries"] / t["cpu_s"] for task, t in ours.items()},
        "airflow_share_of_run": empty * tries / total,
    }
