"""One lab host: its TDS (SQL), WinRM and SMB servers, until SIGTERM.

`python -m tests.lab.host --dir DIR --name HOST [--identity] [--schema NAME] [--smb1]`; the lab's user and password
come from DIR/credentials.json. Writes DIR/hosts/HOST/ready.json when every server listens.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import signal
import threading
from pathlib import Path

from tests.lab import ds_schema, faults
from tests.lab.cmdexe import DS_TOOL_FILES
from tests.lab.requests_journal import RequestsJournal
from tests.lab.smb import SmbServer
from tests.lab.tds import TdsServer
from tests.lab.tsql import Engine
from tests.lab.wsman import WinRMServer


def host_paths(lab_dir: Path, name: str) -> dict[str, Path]:
    host_dir = lab_dir / "hosts" / name
    return {"dir": host_dir, "share": host_dir / "share", "db": host_dir / "express.db"}


def install_ds_tools(share_dir: Path) -> None:
    """The DS folder holds the DS tools (the lab's are simulated by cmdexe.py; these files stand
    for them, so a folder without them is a DS folder with the tools missing)."""
    for tool in DS_TOOL_FILES:
        path = share_dir / tool
        if not path.exists():
            path.write_bytes(b"MZ DS lab: stands for the Deployment Server tool " + tool.encode() + b"\r\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--identity", action="store_true")
    parser.add_argument("--schema", default="default", choices=sorted(ds_schema.SCHEMAS))
    parser.add_argument("--smb1", action="store_true", help="smbd speaks SMB1 only (Windows Server 2003)")
    args = parser.parse_args()
    lab_dir = Path(args.dir).resolve()
    paths = host_paths(lab_dir, args.name)
    paths["dir"].mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=paths["dir"] / "host.log", level=logging.INFO)
    credentials = json.loads((lab_dir / "credentials.json").read_text())
    user, password = credentials["user"], credentials["password"]
    if not paths["db"].exists():
        ds_schema.create_express(paths["db"], identity=args.identity, schema=args.schema)
    fault = functools.partial(faults.take, lab_dir, args.name)
    armed = functools.partial(faults.armed, lab_dir, args.name)
    journal = RequestsJournal(paths["dir"])

    smb = SmbServer(paths["dir"], paths["share"], user, password, fault, armed, args.name, smb1=args.smb1)
    smb.start()
    install_ds_tools(paths["share"])
    tds = TdsServer(
        Engine(str(paths["db"])),
        user,
        password,
        fault=fault,
        server_name=args.name.upper(),
        journal=functools.partial(journal.record, "sql"),
    )
    tds.start()
    winrm = WinRMServer(
        str(paths["share"]),
        str(paths["db"]),
        user,
        password,
        state_dir=str(paths["dir"]),
        fault=fault,
        hostname=args.name.upper(),
        journal=functools.partial(journal.record, "winrm"),
    )
    winrm.start()

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    ready = {
        "sql_port": tds.port,
        "winrm_port": winrm.port,
        "smb_port": smb.port,
        "smbd_port": smb.smbd_port,
        "share_dir": str(paths["share"]),
        "db_path": str(paths["db"]),
        "schema": args.schema,
        "identity": args.identity,
        "pid": os.getpid(),
        "smbd_pid": smb.process.pid if smb.process else None,
        "share_full_available": smb.mounted,
        "smb_dialects": "NT1" if args.smb1 else "SMB2_10-SMB3",
    }
    tmp = paths["dir"] / "ready.json.tmp"
    tmp.write_text(json.dumps(ready))
    tmp.replace(paths["dir"] / "ready.json")
    stopped.wait()
    for server in (winrm, tds, smb):
        try:
            server.stop()
        except Exception:
            logging.exception("stopping %s", server)


if __name__ == "__main__":
    main()
