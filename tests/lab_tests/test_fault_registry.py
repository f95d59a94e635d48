"""The lab's fault registry (tests/lab/faults.py) as its servers use it: polled on every request."""

from __future__ import annotations

from tests.lab import faults


def _version(lab_dir, host: str) -> tuple[int, int]:
    stat = (lab_dir / "faults" / f"{host}.json").stat()
    return stat.st_ino, stat.st_mtime_ns


def test_polling_the_faults_writes_nothing(tmp_path):
    # the SMB proxy asks on every chunk and the share_full ballast every 0.1 s: a poll that
    # rewrote the file (as it once did) made every chunk take the lock and read it again
    faults.arm(tmp_path, "slave1", "sql_drop", match="never")
    before = _version(tmp_path, "slave1")
    for _ in range(20):
        assert [f["name"] for f in faults.armed(tmp_path, "slave1")] == ["sql_drop"]
        assert not faults.take(tmp_path, "slave1", "smb_disconnect", "some.bin")
    assert _version(tmp_path, "slave1") == before


def test_a_fault_is_seen_as_soon_as_armed_and_fires_as_often_as_armed(tmp_path):
    assert not faults.take(tmp_path, "master", "smb_disconnect", "x.bin")  # nothing armed: no file
    for _ in range(3):  # arm, fire, re-arm within one clock tick: each change is seen
        faults.arm(tmp_path, "master", "smb_disconnect", times=2, match="x.bin")
        assert not faults.take(tmp_path, "master", "smb_disconnect", "y.bin")
        assert faults.take(tmp_path, "master", "smb_disconnect", "\\X.BIN")
        assert faults.take(tmp_path, "master", "smb_disconnect", "x.bin")
        assert not faults.take(tmp_path, "master", "smb_disconnect", "x.bin")
        assert faults.armed(tmp_path, "master") == []
    faults.arm(tmp_path, "master", "smb_stall")
    faults.clear(tmp_path, "master")
    assert not faults.take(tmp_path, "master", "smb_stall")
