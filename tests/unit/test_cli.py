"""`python -m ds_replication check-config FILE`, run as an administrator would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "include" / "config" / "replication.yaml"


def ds_replication(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": "plugins"}
    env.pop("DS_REPLICATION_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "ds_replication", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_valid_file_exits_0_with_a_summary():
    result = ds_replication("check-config", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "valid; master master, 2 slave(s)" in result.stdout
    assert "pool ds_export_master" in result.stdout
    assert "airflow pools set ds_export_master 2 " in result.stdout
    assert "replicate_site_a: Global (with sub-folders); schedule 0 2 * * *" in result.stdout
    assert r"replicate_site_b: Global (with sub-folders), Drivers\Dell; schedule 30 2 * * *" in result.stdout


def test_each_slaves_queue_is_shown(tmp_path):
    estate = tmp_path / "estate.yaml"
    estate.write_text(
        "defaults: {queue: site_south}\nmaster: {name: hq}\nslaves: [{name: a}, {name: b, queue: null}]\n"
    )
    result = ds_replication("check-config", str(estate))
    assert result.returncode == 0, result.stderr
    a, b = result.stdout.split("replicate_a:")[1].split("replicate_b:")
    assert "tasks run on: queue site_south" in a
    assert "tasks run on: Airflow's default queue" in b


def test_manual_only_and_paused_slaves_are_shown(tmp_path):
    estate = tmp_path / "estate.yaml"
    estate.write_text(
        "master: {name: hq}\nslaves: [{name: lab, schedule: null}, {name: two, paused_on_first_deploy: false}]\n"
    )
    result = ds_replication("check-config", str(estate))
    assert result.returncode == 0, result.stderr
    assert (
        "replicate_lab: Global (with sub-folders); schedule manual runs only; created paused "
        "(paused_on_first_deploy): try a dry run, then unpause it" in result.stdout
    )
    assert "replicate_two: Global (with sub-folders); schedule 0 2 * * *; created unpaused" in result.stdout


def test_invalid_file_exits_1_listing_every_problem_on_stderr(tmp_path):
    estate = tmp_path / "estate.yaml"
    estate.write_text(
        "master: {name: hq, password: x}\nslaves:\n  - name: site a\n  - name: HQ\n    folders: [{name: '%TEMP%'}]\n",
        encoding="utf-8",
    )
    result = ds_replication("check-config", str(estate))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"{estate}: 4 problem(s):"
    assert lines[1].strip().startswith("master.password (line 1): unknown key")
    assert lines[2].strip().startswith("slaves[0].name (line 3): 'site a' is not a safe name")
    assert lines[3].strip().startswith("slaves[1].name (line 4): 'HQ' is already the name of master")
    assert lines[4].strip().startswith("slaves[1].folders[0].name (line 5): contains '%'")


def test_missing_file_exits_1(tmp_path):
    result = ds_replication("check-config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert "nope.yaml: cannot read the estate file" in result.stderr


def test_yaml_syntax_error_exits_1_with_the_line(tmp_path):
    estate = tmp_path / "estate.yaml"
    estate.write_text("master:\n  name: hq\n slaves: []\n")
    result = ds_replication("check-config", str(estate))
    assert result.returncode == 1
    assert "not valid YAML at line 3" in result.stderr


def test_no_command_is_a_usage_error():
    result = ds_replication()
    assert result.returncode == 2
    assert "check-config" in result.stderr


def test_installed_command_runs_from_any_folder_without_pythonpath(tmp_path):
    """`make install` installs the project, so `ds-replication` needs no PYTHONPATH or checkout cwd."""
    command = Path(sys.executable).parent / "ds-replication"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DS_REPLICATION_CONFIG")}
    result = subprocess.run(
        [str(command), "check-config", str(EXAMPLE)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "valid; master master, 2 slave(s)" in result.stdout
    usage = subprocess.run([str(command)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2
    assert usage.stderr.startswith("usage: ds-replication ")


def test_survey_exits_2_for_a_bad_file_or_usage(tmp_path):
    """`ds-replication survey`: 2 (not 1, which means a no-go host) when the file is missing,
    not YAML or not a valid estate, or the command line is wrong; nothing is surveyed."""
    missing = ds_replication("survey", str(tmp_path / "nope.yaml"))
    assert (missing.returncode, missing.stdout) == (
        2,
        "",
    ) and "nope.yaml: cannot read the estate file" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("master:\n  name: hq\n slaves: []\n")
    result = ds_replication("survey", str(broken), "--json")
    assert (result.returncode, result.stdout) == (2, "") and "not valid YAML at line 3" in result.stderr
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("master: {name: hq}\nslaves:\n  - name: site a\n")
    result = ds_replication("survey", str(invalid))
    assert (result.returncode, result.stdout) == (2, "") and "slaves[0].name (line 3)" in result.stderr
    assert ds_replication("survey").returncode == 2
    assert ds_replication("survey", str(invalid), "--no-such-option").returncode == 2
