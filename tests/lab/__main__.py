"""The DS lab's command line: up, sql, shell, fault, server, mail, live, down (see tests/lab/README.md)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from tests.lab import control, ds_schema, faults


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="milliseconds")
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a master and N slaves")
    up.add_argument("--dir", required=True)
    up.add_argument("--slaves", type=int, default=2)
    up.add_argument("--identity", action="store_true", help="event_schedule.schedule_id is an IDENTITY column")
    up.add_argument("--seed", action="store_true", help="load the sample estate (tests/lab/seed.py)")
    up.add_argument(
        "--history-rows",
        type=int,
        default=0,
        metavar="N",
        help="with --seed: N more history rows on every slave, 1-3 detail rows each (seed.seed_history)",
    )
    up.add_argument(
        "--schema",
        default="default",
        choices=list(ds_schema.SCHEMAS),
        help="variant of the express database (tests/lab/README.md): "
        + "; ".join(f"{n}: {w}" for n, w in ds_schema.SCHEMAS.items()),
    )
    up.add_argument("--live", action="store_true", help="start the live DS engine on every host (ds_engine.py)")
    up.add_argument("--rate", type=float, help="the live engine's writes per second (default 4)")
    up.add_argument(
        "--smb1", action="append", default=[], metavar="HOST", help="HOST's smbd speaks SMB1 only (Windows 2003)"
    )
    sql = commands.add_parser("sql", help="run a T-SQL batch over TDS; rows as JSON")
    sql.add_argument("--dir", required=True)
    sql.add_argument("host")
    sql.add_argument("batch")
    shell = commands.add_parser("shell", help="run a command line over WinRM")
    shell.add_argument("--dir", required=True)
    shell.add_argument("host")
    shell.add_argument("line")
    fault = commands.add_parser(
        "fault",
        help="arm a fault on a host",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="faults:\n" + "\n".join(f"  {name:24} {what}" for name, what in faults.FAULTS.items()),
    )
    fault.add_argument("--dir", required=True)
    fault.add_argument("host")
    fault.add_argument("fault", nargs="?", choices=sorted(faults.FAULTS))
    fault.add_argument("--times", type=int, default=1)
    fault.add_argument("--match", default="", help="fire only for a call whose subject contains this")
    fault.add_argument("--clear", action="store_true", help="disarm every fault of the host")
    server = commands.add_parser("server", help="what a host's SQL Server says about itself (version, size)")
    server.add_argument("--dir", required=True)
    server.add_argument("host")
    server.add_argument("--version", help="product version, e.g. 8.00.2039 (MSDE 2000) or 10.50.1600.1")
    server.add_argument("--edition", help="e.g. 'Express Edition', 'Desktop Engine', 'Standard Edition'")
    server.add_argument("--data-mb", type=float, help="size of the database's data file in MB")
    server.add_argument("--log-mb", type=float, help="size of the database's log file in MB")
    server.add_argument("--log-growth-mb", type=float, help="the log's autogrowth in MB (0: none; unset: 10 percent)")
    server.add_argument(
        "--nested-triggers", type=int, choices=(0, 1), help="server option 'nested triggers' (configured and in use)"
    )
    server.add_argument("--recovery-model", choices=("SIMPLE", "FULL", "BULK_LOGGED"), help="the database's")
    mail = commands.add_parser("mail", help="messages the SMTP sink received, as JSON")
    mail.add_argument("--dir", required=True)
    live = commands.add_parser("live", help="start or stop the live DS engine (history written all the time)")
    live.add_argument("--dir", required=True)
    live.add_argument("action", choices=["start", "stop"])
    live.add_argument("--host", action="append", help="a host (repeatable); default: every host")
    live.add_argument("--rate", type=float, help="writes per second (default 4)")
    down = commands.add_parser("down", help="stop every process of the lab")
    down.add_argument("--dir", required=True)
    args = parser.parse_args(argv)
    lab_dir = Path(args.dir)

    try:
        if args.command == "up":
            info = control.up(
                lab_dir,
                args.slaves,
                identity=args.identity,
                seed=args.seed,
                schema=args.schema,
                live=args.live,
                rate=args.rate,
                smb1=tuple(args.smb1),
                history_rows=args.history_rows,
            )
            print(f"lab up in {info['seconds']:.1f} s: {', '.join(info['hosts'])}; see {lab_dir / 'lab.json'}")
        elif args.command == "sql":
            print(json.dumps(control.sql(lab_dir, args.host, args.batch), default=_json_default, ensure_ascii=False))
        elif args.command == "shell":
            code, out, err = control.shell(lab_dir, args.host, args.line)
            sys.stdout.write(out)
            sys.stderr.write(err)
            if code:
                print(f"exit code {code}", file=sys.stderr)
            return code if 0 <= code < 256 else 255
        elif args.command == "fault":
            if args.clear:
                faults.clear(lab_dir, args.host)
            elif args.fault:
                faults.arm(lab_dir, args.host, args.fault, args.times, args.match)
            else:
                parser.error("fault: name a fault or give --clear")
        elif args.command == "server":
            facts = control.server(
                lab_dir,
                args.host,
                args.version,
                args.edition,
                args.data_mb,
                args.log_mb,
                args.log_growth_mb,
                args.nested_triggers,
                args.recovery_model,
            )
            print(json.dumps(facts))
        elif args.command == "mail":
            print(json.dumps(control.mail(lab_dir), ensure_ascii=False))
        elif args.command == "live" and args.action == "start":
            started = control.live_start(lab_dir, args.host, rate=args.rate)
            print("live engine started: " + ", ".join(f"{h} (pid {p})" for h, p in started.items()))
        elif args.command == "live":
            print("live engine stopped on: " + (", ".join(control.live_stop(lab_dir, args.host)) or "no host"))
        elif args.command == "down":
            left = control.down(lab_dir)
            if left:
                print("left behind: " + "; ".join(left), file=sys.stderr)
                return 1
    except control.LabError as error:
        print(f"lab {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
