"""A lab brought up again in a folder an earlier lab used waits for its own servers, not for the
ready files the earlier one left behind (whose ports and pids are gone)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import psutil

from tests.lab.control import host_paths
from tests.labctl import Lab


def test_up_in_a_used_folder_reports_its_own_servers():
    root = Path(tempfile.mkdtemp(prefix="ds-lab-reuse-"))
    lab_dir = root / "lab"
    stale = {"pid": 2**22 + 7, "sql_port": 1, "winrm_port": 1, "smb_port": 1}
    for name in ("master", "slave1"):
        ready = host_paths(lab_dir.resolve(), name)["dir"] / "ready.json"
        ready.parent.mkdir(parents=True)
        ready.write_text(json.dumps(stale))
    (lab_dir / "smtp.json").write_text(json.dumps({"smtp_port": 1}))
    lab = Lab(lab_dir).up(slaves=1, seed=False)
    try:
        for name, host in lab.info["hosts"].items():
            assert host["pid"] != stale["pid"] and psutil.pid_exists(host["pid"]), (name, host)
            assert host["sql_port"] != 1, (name, host)
        assert lab.info["smtp_port"] != 1
        assert lab.scalar("slave1", "SELECT COUNT(*) AS n FROM event_folder") is not None
    finally:
        lab.down()
        shutil.rmtree(root, ignore_errors=True)
