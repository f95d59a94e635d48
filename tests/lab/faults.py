"""The lab's fault registry: faults armed per host, consumed by the host's servers.

Faults live in `DIR/faults/<host>.json` so that the command line, the tests and the host
process (a different process) share them. Every change holds an exclusive `flock` and
replaces the file whole, with a modification time later than the one before (set, not left to
the clock's resolution), so a reader that has seen a version knows it by (inode, mtime): the
servers ask on every request and chunk, and while nothing is armed for them they pay one
`stat`, no lock, no read (`take`'s fast path; the SMB proxy at full speed).
A fault fires for the next call (or the next N calls) whose subject contains `match`
(empty match: any call).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

# name -> what it does; the server that consumes it is the prefix.
FAULTS: dict[str, str] = {
    "winrm_timeout": "the next WinRM request gets no answer until the client gives up",
    "winrm_500": "the next WinRM request answers HTTP 500 with a SOAP fault",
    "command_hang": "the next command never ends (Receive keeps answering OperationTimeout)",
    "winrm_receive_drop": "a poll (Receive) of the next command whose line matches gets its connection closed "
    "without an answer; the command runs on",
    "aximport_slow": "aximport runs a while (8 s) before it imports, as on a large folder; a terminate ends it first",
    "aximport_crash": "aximport deletes the target folder's jobs, then dies before re-inserting them",
    "aximport_fail": "aximport exits non-zero before changing anything",
    "aximport_triggers_off": "aximport disables the history tables' triggers, deletes, then enables them again "
    "(DISABLE, then ENABLE TRIGGER ALL): the history it deletes fires no trigger",
    "aximport_truncate": "aximport empties event_schedule_info with TRUNCATE TABLE (no trigger fires) before it "
    "deletes the folder's jobs",
    "axexport_truncated": "axexport writes a truncated export file (and exits 0)",
    "axexport_corrupt": "axexport writes an export file with a flipped byte (and exits 0)",
    "axexport_short": "axexport leaves the folder's last job out of the file, prints the count it wrote, exits 0",
    "cmd_no_cwd_lookup": "the next command line runs with NoDefaultCurrentDirectoryInExePath set: a DS tool "
    "called by its bare name is not found (9009)",
    "sql_drop": "the SQL connection is dropped in the middle of the next batch",
    "sql_drop_before_commit": "the SQL connection is dropped when COMMIT is reached, before it runs",
    "sql_drop_after_commit": "COMMIT runs, then the connection is dropped before the reply",
    "sql_hang": "the next SQL batch hangs (as on a lock wait) until the client cancels or leaves",
    "sql_log_full": "the next SQL statement fails with Msg 9002 (transaction log full, severity 17)",
    "sql_filegroup_full": "the next SQL statement fails with Msg 1105 (filegroup full, severity 17)",
    "sql_lock_resources": "the next SQL statement fails with Msg 1204 (no lock resource, severity 19: the batch "
    "ends and its transaction rolls back)",
    "smb_disconnect": "the SMB connection is closed in the middle of the next transfer",
    "smb_stall": "the SMB server stops answering without closing the connection",
    "share_full": "writes to the share fail with disk full",
}


def _path(lab_dir: str | Path, host: str) -> Path:
    return Path(lab_dir) / "faults" / f"{host}.json"


# path -> ((inode, mtime) of the version read, its faults)
_seen: dict[Path, tuple[tuple[int, int], list[dict]]] = {}


@contextlib.contextmanager
def _locked(lab_dir: str | Path, host: str) -> Iterator[list[dict]]:
    """The faults, to change in place; written back (only when changed) as the lock ends."""
    path = _path(lab_dir, host)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = json.loads(path.read_text()) if path.exists() else []
        faults = [dict(f) for f in before]
        yield faults
        if faults == before and path.exists():
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(faults))
        previous = path.stat().st_mtime_ns if path.exists() else 0
        stamp = max(time.time_ns(), previous + 1)  # later than the version it replaces
        os.utime(tmp, ns=(stamp, stamp))
        tmp.replace(path)


def _current(lab_dir: str | Path, host: str) -> list[dict]:
    """The faults armed now, read without the lock (the file is replaced whole) and only when
    it changed since this process last read it."""
    path = _path(lab_dir, host)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return []
    version = (stat.st_ino, stat.st_mtime_ns)
    seen = _seen.get(path)
    if seen is None or seen[0] != version:
        try:
            seen = (version, json.loads(path.read_text()))
        except FileNotFoundError:
            return []
        _seen[path] = seen
    return seen[1]


def arm(lab_dir: str | Path, host: str, name: str, times: int = 1, match: str = "") -> None:
    """Arm fault `name` on `host` for the next `times` calls whose subject contains `match`."""
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
    if times < 1:
        raise ValueError(f"--times must be at least 1, not {times}")
    with _locked(lab_dir, host) as faults:
        faults.append({"name": name, "times": times, "match": match})


def armed(lab_dir: str | Path, host: str) -> list[dict]:
    """The faults still armed on `host` (no lock, no write: servers poll it)."""
    return [dict(f) for f in _current(lab_dir, host)]


def take(lab_dir: str | Path, host: str, name: str, subject: str = "") -> bool:
    """Consume one firing of fault `name` if it is armed for `subject`; True when it fires."""
    if not any(f["name"] == name for f in _current(lab_dir, host)):  # the common case: no lock
        return False
    with _locked(lab_dir, host) as faults:
        for fault in faults:
            if fault["name"] == name and fault["match"].lower() in subject.lower():
                fault["times"] -= 1
                if fault["times"] <= 0:
                    faults.remove(fault)
                return True
    return False


def clear(lab_dir: str | Path, host: str) -> None:
    with _locked(lab_dir, host) as faults:
        faults.clear()
