"""The estate survey: every host of the estate checked as preflight checks it, read-only, each
host in its own thread and bounded in time; a verdict per host, `go` or `no-go`.

The checks are host_checks', the ones preflight refuses a night with; the survey runs them all
(also where preflight would stop at the first host that fails) and adds those preflight only
logs (warnings), and one note of its own: a scheduled import.bat on a slave (never a no-go).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ds_replication import host_checks
from ds_replication.config import Estate
from ds_replication.ds_host import DsHost
from ds_replication.host_checks import Check
from ds_replication.lasting import describe

HOST_SECONDS = 60.0  # a host that has not answered every check by then is no-go
COMMAND_SECONDS = 40.0  # the cmd check's own bound, inside HOST_SECONDS


@dataclass
class HostSurvey:
    name: str
    role: str
    checks: list[Check] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "go" if self.checks and all(c.ok for c in self.checks) else "no-go"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "verdict": self.verdict,
            "checks": [c.as_dict() for c in self.checks],
        }


def hosts(estate: Estate) -> list[DsHost]:
    """The master, then every slave, in the file's order."""
    return [DsHost.from_config("master", estate.master)] + [
        DsHost.from_config("slave", slave) for slave in estate.slave_configs()
    ]


def _checks(host: DsHost, out: list[Check]) -> None:
    """Every check of `host`, appended to `out` as each is read (a host cut off at the deadline
    keeps what it answered)."""
    _, server = host_checks.reach(host, COMMAND_SECONDS, out)
    if host.role == "slave" and any(c.ok and c.check == host_checks.winrm_check_name(host) for c in out):
        out.append(host_checks.scheduled_import(host, COMMAND_SECONDS))  # a note: the survey's own
    if server is None:
        return
    try:
        with host.connect() as conn:
            if host.role == "slave":
                for check in host_checks.database(conn, server, host):
                    out.append(check)
            else:
                facts, utc_now = host_checks.server_facts(conn)
                out.append(facts)
                if utc_now is not None:
                    out.append(host_checks.clock(utc_now))
    except Exception as error:
        out.append(Check("database", False, describe(error), "the DS database must be readable by the login", error))


def survey_host(host: DsHost, seconds: float = HOST_SECONDS) -> HostSurvey:
    """One host's checks, within `seconds` (its thread is left behind when it has not ended)."""
    return survey_hosts([host], seconds)[0]


def survey_hosts(targets: list[DsHost], seconds: float = HOST_SECONDS) -> list[HostSurvey]:
    """Every host at once, each in its own thread; after `seconds` a host still being checked is
    no-go with what it answered so far."""
    results = [HostSurvey(h.name, h.role) for h in targets]
    failures: dict[int, BaseException] = {}

    def run(n: int) -> None:
        try:
            _checks(targets[n], results[n].checks)
        except Exception as error:  # a bug of a check must not hide the other hosts
            failures[n] = error

    threads = [
        threading.Thread(target=run, args=(n,), name=f"survey-{h.name}", daemon=True) for n, h in enumerate(targets)
    ]
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.start()
    for n, thread in enumerate(threads):
        thread.join(max(0.0, deadline - time.monotonic()))
        checks = list(results[n].checks)  # a copy: a thread left behind may still append
        if thread.is_alive():
            checks.append(
                Check("answer in time", False, f"no answer within {seconds:.0f} s", "a host must answer every check")
            )
        elif n in failures:
            checks.append(Check("survey", False, describe(failures[n]), "", failures[n]))
        results[n] = HostSurvey(results[n].name, results[n].role, checks)
    return results


def survey_estate(estate: Estate, seconds: float = HOST_SECONDS) -> list[HostSurvey]:
    return survey_hosts(hosts(estate), seconds)


def as_json(surveys: list[HostSurvey]) -> dict[str, Any]:
    return {"hosts": [s.as_dict() for s in surveys]}


def _ok_word(check: Check) -> str:
    return "warn" if check.warning else ("yes" if check.ok else "NO")


def as_text(surveys: list[HostSurvey]) -> str:
    """A table per host (check, ok, found; why and what to do under it), its verdict, a summary."""
    lines = []
    for s in surveys:
        lines.append(f"{s.role} {s.name}: {s.verdict}")
        width = max([len(c.check) for c in s.checks] + [len("check")])
        lines.append(f"  {'check':<{width}}  ok    found")
        for c in s.checks:
            lines.append(f"  {c.check:<{width}}  {_ok_word(c):<4}  {c.found}")
            if c.why:
                lines.append(f"  {'':<{width}}        {'what to do' if not c.ok else 'note'}: {c.why}")
        lines.append("")
    lines.append(summary(surveys))
    return "\n".join(lines)


def summary(surveys: list[HostSurvey]) -> str:
    no_go = [s.name for s in surveys if s.verdict != "go"]
    warnings = sum(1 for s in surveys for c in s.checks if c.warning)
    text = f"survey: {len(surveys)} host(s), {len(surveys) - len(no_go)} go, {len(no_go)} no-go"
    text += f" ({', '.join(no_go)})" if no_go else ""
    return text + f", {warnings} warning(s)"
