"""`ds-replication ...` (or `python -m ds_replication ...`): commands for DS administrators."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator

from ds_replication.config import ConfigError, load_estate


def check_config(path: str) -> int:
    """Exit 0 with a summary when the estate file is valid, 1 with every problem when not."""
    try:
        estate = load_estate(path)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    master = estate.master
    slaves = estate.slave_configs()
    print(f"{path}: valid; master {master.name}, {len(slaves)} slave(s)")
    print(f"master {master.name}: at most {master.export_slots} export(s) at once (pool {master.export_pool})")
    # A task whose pool does not exist is never scheduled: the operator must create it.
    print(
        f"  create the pool once: airflow pools set {master.export_pool} {master.export_slots} "
        f'"DS exports on master {master.name}"'
    )
    for slave in slaves:
        folders = ", ".join(f"{f.name}{' (with sub-folders)' if f.subfolders else ''}" for f in slave.folders)
        schedule = slave.schedule or "manual runs only"
        paused = (
            "; created paused (paused_on_first_deploy): try a dry run, then unpause it"
            if slave.paused_on_first_deploy
            else "; created unpaused (paused_on_first_deploy: false)"
        )
        print(f"  {slave.dag_id}: {folders}; schedule {schedule}{paused}")
        queue = f"queue {slave.queue}" if slave.queue is not None else "Airflow's default queue"
        print(f"    tasks run on: {queue}")
        bounds = ", ".join(
            f"{task} {slave.task_minutes(task):g} min ({n} command(s) of up to {slave.command_timeout_minutes:g})"
            for task, n in slave.remote_commands().items()
        )
        print(f"    task bounds: {bounds}; other steps {slave.task_timeout_minutes:g} min")
        source = (
            "run_timeout_minutes"
            if slave.run_timeout_minutes is not None
            else f"one try of every step and {slave.approval_wait_minutes():g} min for an approval ({slave.approval})"
        )
        print(f"    run bound (dagrun_timeout): {slave.run_minutes():g} min ({source}); an alert when exceeded")
    return 0


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def survey(path: str, as_json: bool) -> int:
    """Survey every host of the estate (read-only): 0 when all are go, 1 when any is no-go,
    2 when the estate file is not valid."""
    from ds_replication import survey as estate_survey  # Airflow's hooks: only for this command

    # the hooks and the SQL templates log every step at INFO: the tables are the output here
    logging.disable(logging.WARNING)
    try:
        estate = load_estate(path)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    with _stdout_to_stderr():  # Airflow's log lines (structlog writes to stdout) stay out of the result
        surveys = estate_survey.survey_estate(estate)
    if as_json:
        print(json.dumps(estate_survey.as_json(surveys), indent=2))
    else:
        print(estate_survey.as_text(surveys))
    return 0 if all(s.verdict == "go" for s in surveys) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ds-replication", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check-config", help="validate an estate file and summarise it")
    check.add_argument("file", help="the estate YAML file")
    surveying = commands.add_parser(
        "survey",
        help="check every host of the estate, read-only, as preflight would: go or no-go per host "
        "(exit 0 all go, 1 any no-go, 2 bad file or usage)",
    )
    surveying.add_argument("file", help="the estate YAML file (connections: Airflow's, as the DAGs read them)")
    surveying.add_argument("--json", action="store_true", help='print {"hosts": [...]} instead of tables')
    args = parser.parse_args(argv)
    if args.command == "check-config":
        return check_config(args.file)
    if args.command == "survey":
        return survey(args.file, args.json)
    return 2  # argparse has refused anything else already


if __name__ == "__main__":
    sys.exit(main())
