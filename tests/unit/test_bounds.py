"""Time bounds that fit the work: a step that runs a remote command per folder gets room for
all of them, and check-config shows what each step may take."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from ds_replication.cli import check_config
from ds_replication.config import COMMAND_TASK_MARGIN_MINUTES, parse_estate
from ds_replication.factory import build_dag

EXAMPLE = Path(__file__).resolve().parents[2] / "include" / "config" / "replication.yaml"
FOLDERS = [{"name": name} for name in ("Global", "Drivers", "Software", "Scripts")]


def estate_text(**defaults) -> str:
    """The example estate, one slave with four folders; commands 60 min, tasks 90 min (the
    old check, command < task, is satisfied)."""
    config = yaml.safe_load(EXAMPLE.read_text())
    config["defaults"].update({"folders": FOLDERS, "command_timeout_minutes": 60, "task_timeout_minutes": 90})
    config["defaults"].update(defaults)
    config["slaves"] = [{"name": "site_a"}]
    return yaml.safe_dump(config)


def test_export_and_import_get_room_for_every_command_of_every_folder():
    estate = parse_estate(estate_text())
    dag = build_dag(estate, estate.slave_configs()[0])
    commands = {"export_jobs": 4, "import_jobs": 1 + 2 * 4}  # import: orphan wait, archive + import each
    for task_id, n in commands.items():
        bound = dag.get_task(task_id).execution_timeout
        assert bound >= dt.timedelta(minutes=n * 60), (task_id, bound)
        assert bound == dt.timedelta(minutes=n * 60 + COMMAND_TASK_MARGIN_MINUTES), (task_id, bound)
    # the other steps keep task_timeout_minutes, the sensors their own timeout
    assert dag.get_task("restore_history").execution_timeout == dt.timedelta(minutes=90)
    assert dag.get_task("wait_for_import").execution_timeout == dt.timedelta(minutes=30)


def test_check_config_shows_the_bounds(tmp_path, capsys):
    path = tmp_path / "replication.yaml"
    path.write_text(estate_text())
    assert check_config(str(path)) == 0
    out = capsys.readouterr().out
    assert "export_jobs 245 min (4 command(s) of up to 60)" in out, out
    assert "import_jobs 545 min (9 command(s) of up to 60)" in out, out


def test_the_run_is_bounded_by_one_try_of_every_step_unless_configured():
    from ds_replication.factory import TASK_IDS
    from ds_replication.notifications.run_timeout import RunTimeoutNotifier

    estate = parse_estate(estate_text())
    slave = estate.slave_configs()[0]
    dag = build_dag(estate, slave)
    steps = sum((dag.get_task(t).execution_timeout for t in TASK_IDS), dt.timedelta())
    # and the wait for an answer of approve_changes (approval: on_local_changes, 720 min)
    assert dag.dagrun_timeout == steps + dt.timedelta(minutes=720), (dag.dagrun_timeout, steps)
    assert isinstance(dag.on_failure_callback, RunTimeoutNotifier)
    configured = parse_estate(estate_text(run_timeout_minutes=26 * 60, approval="never"))
    assert build_dag(configured, configured.slave_configs()[0]).dagrun_timeout == dt.timedelta(hours=26)


def test_check_config_shows_the_run_bound(tmp_path, capsys):
    path = tmp_path / "replication.yaml"
    path.write_text(estate_text())
    assert check_config(str(path)) == 0
    # 90 x 7 steps + 30 x 3 sensors + export 245 + import 545, and 720 for an approval
    out = capsys.readouterr().out
    assert "run bound (dagrun_timeout): 2230 min (one try of every step and 720 min for an approval" in out, out
