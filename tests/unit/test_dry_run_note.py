"""The note a dry run gets in the grid, and the listener that writes it registered by Airflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ds_replication.dry_run_note import dry_run_note

REPO = Path(__file__).resolve().parents[2]


def test_only_a_dry_run_gets_a_note_naming_its_folders():
    assert dry_run_note(None) is None
    assert dry_run_note({}) is None
    assert dry_run_note({"dry_run": False, "folders": ["Global"]}) is None
    assert dry_run_note({"dry_run": True}).startswith("**Dry run** of every configured folder: ")
    assert dry_run_note({"dry_run": True, "folders": None}).startswith("**Dry run** of every configured folder")
    assert dry_run_note({"dry_run": True, "folders": ["Global", "Drivers\\Dell"]}).startswith(
        "**Dry run** of Global, Drivers\\Dell: the jobs are exported and copied, nothing changes on the slave"
    )


def test_the_scheduler_registers_the_listener_from_the_plugins_folder(tmp_path):
    env = os.environ | {
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_HOME": str(tmp_path),
        "PYTHONPATH": str(REPO / "plugins"),
    }
    script = (
        "from airflow.listeners.listener import get_listener_manager\n"
        "print([getattr(p, '__name__', '') for p in get_listener_manager().pm.get_plugins()])"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "'ds_replication.dry_run_note'" in out.stdout
