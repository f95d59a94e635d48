"""Runs under a real scheduler: one slave's nightly run, and N slaves at once against one.

A seeded DS lab with the most slaves asked for, and a private Airflow (tests/airflow_server.py:
api-server, scheduler, dag-processor, LocalExecutor, parallelism 4, SQLite) on the lab's estate
with its production defaults, `schedule: null` and the master's export pool sized 2. A first
run warms Airflow up and is not counted. Each round triggers one run per slave while the DAGs
are paused, then unpauses them with one command, so the runs start together and the CLI's own
start-up (seconds per trigger) is outside the wall.

Figures come from the metadata DB: a round's wall is its first task start to its last run end;
a run's task time is the sum of its task durations (the operators' work, remote calls included,
plus Airflow's start of each task process); the rest of a run is hand-offs between tasks
(scheduling, queueing for a CPU or the export pool).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from tests.airflow_env import airflow_env, migrate, read_connections_env
from tests.airflow_server import Airflow, parse_time
from tests.bench import task_cpu
from tests.bench.cpu_meter import Meter
from tests.labctl import Lab

EXPORT_SLOTS = 2
PARALLELISM = 4  # tests/airflow_server.py runs the LocalExecutor with 4 task slots
WALL_TARGET_AT_20 = 6.0  # issue 12: 20 slaves in one night, wall at most 6x one slave's


def _seconds(start: str | None, end: str | None) -> float:
    began, ended = parse_time(start), parse_time(end)
    return (ended - began).total_seconds() if began and ended else 0.0


class ScheduledEstate:
    """A seeded lab of `slaves` slaves and an Airflow replicating it, stopped by `stop`."""

    def __init__(self, root: Path, slaves: int) -> None:
        self.root = root
        self.lab = Lab(root / "lab").up(slaves=slaves, seed=True)
        self.airflow: Airflow | None = None
        try:
            config = yaml.safe_load(self.lab.config_path.read_text())
            config["defaults"]["schedule"] = None  # manual runs only
            config["master"]["export_slots"] = EXPORT_SLOTS
            config_path = root / "replication.yaml"
            config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            env = airflow_env(root / "airflow", config_path, read_connections_env(self.lab.connections_path))
            # the package's DAG file and plugin beside the task CPU anchor and listener (task_cpu.py)
            task_cpu.install(root / "dags", root / "plugins")
            self.task_cpu_path = root / "task_cpu.jsonl"
            env |= {
                "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
                task_cpu.ENV: str(self.task_cpu_path),
            }
            migrate(env)
            self.airflow = Airflow(root, env)
            pool = f"ds_export_{config['master']['name']}"
            self.airflow.cli("pools", "set", pool, str(EXPORT_SLOTS), "DS exports on the master")
            self.airflow.start()
            self.airflow.wait_ready((*(f"replicate_{s}" for s in self.lab.slaves()), task_cpu.ANCHOR_DAG))
            self.airflow.cli("dags", "pause", "-y", "--treat-dag-id-as-regex", "^replicate_")
        except BaseException:
            self.stop()
            raise

    def round(self, slaves: list[str], name: str) -> dict:
        """One run per slave in `slaves`, started together; the round's figures."""
        airflow = self.airflow
        assert airflow is not None
        run_ids = {slave: f"{name}_{slave}" for slave in slaves}
        for slave, run_id in run_ids.items():
            airflow.cli("dags", "trigger", f"replicate_{slave}", "--run-id", run_id)
        pattern = "^replicate_(" + "|".join(slaves) + ")$"
        load = os.getloadavg()[0]
        meter = self.meter()
        before = meter.reading()
        airflow.cli("dags", "unpause", "-y", "--treat-dag-id-as-regex", pattern)
        runs = airflow.wait_finished(list(run_ids.values()))
        cpu = meter.spent(before, meter.reading())
        airflow.cli("dags", "pause", "-y", "--treat-dag-id-as-regex", pattern)
        failed = [run_id for run_id, run in runs.items() if run["state"] != "success"]
        if failed:
            raise RuntimeError(f"bench runs failed: {failed}\n{airflow.describe(failed)}")
        per_run, starts, ends = {}, [], []
        for slave, run_id in run_ids.items():
            tis = airflow.task_instances(run_id)
            run = runs[run_id]
            first = min(parse_time(ti["start_date"]) for ti in tis.values())
            last = parse_time(run["end_date"])
            starts.append(first)
            ends.append(last)
            run_s = (last - first).total_seconds()
            tasks = {task_id: _seconds(ti["start_date"], ti["end_date"]) for task_id, ti in tis.items()}
            per_run[slave] = {
                "run_s": run_s,
                "task_s": sum(tasks.values()),
                "between_tasks_s": run_s - sum(tasks.values()),
                "tries": sum(ti["try_number"] for ti in tis.values()),
                "tasks_s": tasks,
            }
        return {
            "slaves": len(slaves),
            "wall_s": (max(ends) - min(starts)).total_seconds(),
            "load_1min_at_start": load,
            "cpu_s": cpu,
            "runs": per_run,
        }

    def meter(self) -> Meter:
        """CPU per group: each Airflow component's process tree (the scheduler's holds the
        executor's workers and every task process), the lab's hosts, this bench process (the CLI)."""
        assert self.airflow is not None
        hosts = self.lab.info["hosts"].values()
        lab = [self.lab.info["smtp_pid"], *(h[k] for h in hosts for k in ("pid", "engine_pid", "smbd_pid") if h.get(k))]
        groups = {f"airflow_{name}": [proc.pid] for name, proc in self.airflow.procs.items()}
        return Meter({**groups, "lab": lab, "bench": [os.getpid()]})

    def anchor_run(self, run_id: str) -> None:
        """One run of the task CPU anchor (task_cpu.ANCHOR_DAG), alone."""
        airflow = self.airflow
        assert airflow is not None
        airflow.cli("dags", "trigger", task_cpu.ANCHOR_DAG, "--run-id", run_id)
        airflow.cli("dags", "unpause", task_cpu.ANCHOR_DAG)
        run = airflow.wait_finished([run_id])[run_id]
        airflow.cli("dags", "pause", task_cpu.ANCHOR_DAG)
        if run["state"] != "success":
            raise RuntimeError(f"the task CPU anchor's run failed\n{airflow.describe([run_id])}")

    def stop(self) -> None:
        try:
            if self.airflow:
                self.airflow.stop()
        finally:
            self.lab.down()


def _ours(cpu: dict) -> float:
    """CPU seconds of what a night runs on in a round: Airflow's components and the lab's hosts
    (not the bench's own CLI calls and polling)."""
    return sum(v for k, v in cpu.items() if k.startswith("airflow_") or k == "lab")


def _why_wall(many: dict, one: dict) -> str:
    """Where a round's CPU went, and the least wall its own CPU allows on this machine's cores."""
    cpu, cores, n = many["cpu_s"], many["cpu_s"]["cores"], many["slaves"]
    airflow = sum(v for k, v in cpu.items() if k.startswith("airflow_"))
    floor = n * _ours(one["cpu_s"]) / cores
    task_s = next(iter(one["runs"].values()))["task_s"]
    slots = n * task_s / PARALLELISM
    return (
        f"over the {n}-slave round's {many['wall_s']:.0f} s the {cores} cores were busy "
        f"{cpu['machine_busy_share']:.0%}: Airflow {airflow:.0f} CPU-s (scheduler with its workers and the task "
        f"processes {cpu.get('airflow_scheduler', 0):.0f}, API server {cpu.get('airflow_api-server', 0):.0f}), "
        f"the lab's hosts {cpu['lab']:.0f}, the bench's CLI {cpu['bench']:.0f}, other work on the machine "
        f"{cpu['others']:.0f}. One slave's round "
        f"used {_ours(one['cpu_s']):.1f} CPU-s of ours: {n} times that on {cores} cores needs at least "
        f"{floor:.0f} s, {floor / one['wall_s']:.2f}x one slave's wall, before any other work takes a core; "
        f"its task time ({task_s:.1f} s) {n} times over in {PARALLELISM} task slots needs at least "
        f"{slots:.0f} s, {slots / one['wall_s']:.2f}x"
    )


def bench_orchestration(counts: tuple[int, ...]) -> dict:
    """One slave's run (where its time goes), then N slaves at once for each N in `counts`."""
    root = Path(tempfile.mkdtemp(prefix="ds-bench-orch-"))
    started = time.perf_counter()
    estate = None
    try:
        estate = ScheduledEstate(root, max(counts))
        setup_s = time.perf_counter() - started
        slaves = estate.lab.slaves()
        # the first run after Airflow starts pays one-time costs (its first task took tens of
        # seconds where later ones took a few): kept apart, not an anchor
        warmup = estate.round(slaves[-1:], "bench_warmup")
        rounds = {n: estate.round(slaves[:n], f"bench_{n}") for n in counts}
        estate.anchor_run("bench_empty")
        cpu = task_cpu.read(estate.task_cpu_path, {"anchor": "bench_empty", "ours": f"bench_{min(counts)}_{slaves[0]}"})
    finally:
        if estate:
            estate.stop()
        shutil.rmtree(root, ignore_errors=True)
    shares = task_cpu.summary(cpu["anchor"], cpu["ours"])
    one = rounds[min(counts)]
    solo = next(iter(one["runs"].values()))
    return {
        "setup_s": setup_s,
        "warmup_wall_s": warmup["wall_s"],
        "export_slots": EXPORT_SLOTS,
        "one_slave": {
            "wall_s": one["wall_s"],
            "task_s": solo["task_s"],
            "between_tasks_s": solo["between_tasks_s"],
            "task_share": solo["task_s"] / solo["run_s"],
            "between_tasks_share": solo["between_tasks_s"] / solo["run_s"],
            "tasks_s": solo["tasks_s"],
        },
        "task_cpu": {"method": task_cpu.__doc__, **shares},
        "rounds": {f"slaves_{n}": rounds[n] for n in counts},
        "wall_vs_one": {f"slaves_{n}": rounds[n]["wall_s"] / one["wall_s"] for n in counts},
        "ratios": {
            "one slave's run / its task time": {"ratio": solo["run_s"] / solo["task_s"], "target": None},
            "CPU of one of our task tries / an EmptyOperator task's (same executor)": {
                "ratio": shares["our_cpu_per_try_s"] / shares["empty_task_cpu_s"],
                "target": None,
            },
            **{
                f"{n} slaves at once / one (wall)": {
                    "ratio": rounds[n]["wall_s"] / one["wall_s"],
                    "target": WALL_TARGET_AT_20 if n == 20 else None,
                    "why": _why_wall(rounds[n], one),
                }
                for n in counts
                if n != min(counts)
            },
        },
    }
