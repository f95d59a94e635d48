"""`make demo`: a full nightly replication against the DS lab, with a report per slave.

Starts a seeded lab (a master and two slaves), runs every slave's replication DAG the way
the scheduler would (`dag.test()`, one DagRun each), then prints what each step did and
accounts for every history row independently. Beside it: what a plain
export/copy/import without the history steps loses on an identical lab.

As a real DS does at night, each slave keeps writing job history during the runs (the lab's
live DS engine, tests/lab/README.md); the report accounts for the rows written during each
run too (tests/history_audit.py, live_audit). `--no-live` runs on slaves standing still.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import yaml

from tests.airflow_env import REPO, airflow_env, migrate, read_connections_env, run_dag
from tests.history_audit import account, live_audit, slave_folders, snapshot
from tests.lab import ds_engine
from tests.labctl import Lab

# With history written all the time, a sensor may wait for something that never comes:
# short waits make such a run end in minutes, not the production default of 30.
LIVE_SETTINGS = {"sensor_poke_seconds": 5, "sensor_timeout_minutes": 2, "retries": 1, "retry_delay_minutes": 0.1}


def naive_replication(lab: Lab) -> dict[str, int]:
    """The article's procedure without its SQL: axexport, copy, aximport. History rows lost per slave."""
    lost = {}
    master_share = Path(lab.info["hosts"]["master"]["share_dir"])
    for slave in lab.slaves():
        before = snapshot(lab, slave)
        for n, folder in enumerate(slave_folders(lab.config_path, slave)):
            name = f"naive_{n}.bin"
            (master_share / name).unlink(missing_ok=True)  # axexport asks before overwriting a file
            switches = " /s" if folder.get("subfolders", True) else ""
            out = lab.shell("master", f'axexport /f "{folder["name"]}"{switches} {name}')
            if out.returncode:
                raise RuntimeError(f"naive axexport failed: {out.stdout}{out.stderr}")
            shutil.copy(master_share / name, Path(lab.info["hosts"][slave]["share_dir"]) / name)
            out = lab.shell(slave, f"aximport {name} /o")
            if out.returncode:
                raise RuntimeError(f"naive aximport failed: {out.stdout}{out.stderr}")
        lost[slave] = account(before, snapshot(lab, slave)).lost
    return lost


def _report(slave: str, result: dict, before, audit, live, naive_lost: int, seconds: float) -> str:
    x = result["xcom"]
    export, copy = x.get("export_jobs", {}), x.get("copy_to_slave", {})
    backup, restore, verify = (
        x.get("backup_history", {}),
        x.get("restore_history", {}),
        x.get("verify_history", {}),
    )
    imported = x.get("wait_for_import", {}).get("slave_jobs", {})
    lines = [
        f"== {result['dag_id']}  ({result['state']}, {seconds:.1f} s)",
        f"  folders exported        {', '.join(f['name'] for f in export.get('folders', []))}",
        f"  jobs exported (master)  {export.get('master_jobs')}",
        f"  jobs on slave after     {imported}",
        "  slave's jobs kept first "
        + ", ".join(f"{f}: {a['jobs']} in {a['file']}" for f, a in x.get("import_jobs", {}).get("archive", {}).items()),
        f"  bytes copied            {copy.get('bytes')}",
        f"  history rows before     {len(before.schedule)}  (+{len(before.info)} detail rows)",
        f"  backed up               {backup.get('backed_up_rows')}",
        f"  restored                {restore.get('restored_rows')}  (+{restore.get('restored_detail_rows')} detail)",
        f"  skipped, job removed    {restore.get('job_gone_rows')}  -> archived {verify.get('archived_rows')}",
        f"  jobs changed            {restore.get('changed_jobs')}  {restore.get('changed_job_names', [])}",
        f"  lost (DAG's count)      {verify.get('lost_rows')}",
        f"  lost (independent)      {audit.lost}  (+{audit.detail_lost} detail rows)"
        if live is None
        else f"  lost (independent)      {live.schedule.lost}, stale {live.schedule.stale}  "
        f"(+{live.info.lost} detail rows lost, {live.info.stale} stale)",
        f"  lost without history steps (plain export/copy/import): {naive_lost}",
    ]
    if live is not None:
        s, i = live.schedule, live.info
        lines += [
            f"  written during the run  {s.inserted} rows inserted, {s.updated} updated (+{i.inserted} detail rows)",
            f"  of all {s.tracked} rows      kept {s.kept} (live {s.live}, archived {s.archived}), held {s.held}, "
            f"lost {s.lost}, stale {s.stale}, duplicated {s.duplicated}",
            f"  of all {i.tracked} detail rows kept {i.kept}, held {i.held}, lost {i.lost}, stale {i.stale}, "
            f"duplicated {i.duplicated}",
        ]
    lines += [
        "  time per step           "
        + ", ".join(f"{t} {d:.1f}s" for t, d in result["durations"].items() if d is not None),
    ]
    failed = [t for t, s in result["tasks"].items() if s["state"] != "success"]
    if failed:
        lines.append(f"  NOT SUCCESSFUL: {failed}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default=str(REPO / ".demo"), help="working directory (recreated)")
    parser.add_argument("--slaves", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="leave the lab running at the end")
    parser.add_argument("--no-live", dest="live", action="store_false", help="no history written during the runs")
    args = parser.parse_args()
    work = Path(args.dir)
    if work.exists():
        for old in (work / "lab", work / "naive"):
            if (old / "lab.json").exists():
                Lab(old).down()
        shutil.rmtree(work)
    work.mkdir(parents=True)

    lab, naive = Lab(work / "lab"), Lab(work / "naive")
    started = time.monotonic()
    print(f"starting two identical DS labs (master + {args.slaves} slaves, seeded) ...", flush=True)
    lab.up(slaves=args.slaves)
    naive.up(slaves=args.slaves)
    ok = True
    config = lab.config_path
    try:
        naive_lost = naive_replication(naive)
        naive.down()
        if args.live:
            config = work / "replication.yaml"
            estate = yaml.safe_load(lab.config_path.read_text())
            estate["defaults"].update(LIVE_SETTINGS)
            config.write_text(yaml.safe_dump(estate, sort_keys=False, allow_unicode=True))
            lab.live_start(lab.slaves())
        env = airflow_env(work / "airflow", config, read_connections_env(lab.connections_path))
        migrate(env)
        print(f"lab up and Airflow ready in {time.monotonic() - started:.1f} s\n", flush=True)
        for slave in lab.slaves():
            mark = len(ds_engine.journal(lab.dir, slave))  # before the snapshot: rows written from here on
            before = snapshot(lab, slave)
            t0 = time.monotonic()
            result = run_dag(env, f"replicate_{slave}")
            seconds = time.monotonic() - t0
            if args.live:  # stopped first: its journal and the tables then say the same
                lab.live_stop([slave])
            after = snapshot(lab, slave)
            # without live history: every row of before unchanged; with it, every row in its last version
            audit = account(before, after)
            live = None
            if args.live:
                written = ds_engine.journal(lab.dir, slave)[mark:]
                live = live_audit(before, written, after, run_failed=result["state"] != "success")
            print(_report(slave, result, before, audit, live, naive_lost[slave], seconds), "\n", flush=True)
            kept = live.ok if live else audit.lost == 0 and audit.detail_lost == 0
            ok = ok and result["state"] == "success" and kept
    finally:
        if args.keep:
            print(
                f"lab left running: {lab.dir}/lab.json; "
                f"stop it with: .venv/bin/python -m tests.lab down --dir {lab.dir}"
                + (f" (its live engines: .venv/bin/python -m tests.lab live --dir {lab.dir} stop)" if args.live else "")
            )
            print(
                "the Airflow UI on it, with this demo's runs (Ctrl-C stops that Airflow, not the lab): "
                f"make ui UI_ARGS='--lab {lab.dir} --estate {config} --airflow-home {work / 'airflow'}'"
            )
        else:
            lab.down()
    print(
        "demo " + ("succeeded: no history row lost" if ok else "FAILED"),
        "(history written during the runs)" if args.live else "",
        f"({time.monotonic() - started:.0f} s)",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
