"""A cmd.exe-like interpreter for one command line on a lab host.

Faithful where the project's quoting matters, so that an injection would really run:
`%VAR%` is expanded first (inside quotes too), `&`, `&&` and `||` outside double quotes
separate commands, `^` escapes outside quotes. The DS install folder maps to the host's
share directory; builtins and the simulated DS tools run there. Output is code page 437.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

from tests.lab import ax_tools

DS_PATH = r"C:\Program Files\Altiris\eXpress\Deployment Server"
ENVIRONMENT = {
    "COMPUTERNAME": "DSLAB",
    "USERNAME": "lab",
    "SYSTEMROOT": r"C:\Windows",
    "PROGRAMFILES": r"C:\Program Files",
    "COMSPEC": r"C:\Windows\system32\cmd.exe",
}
NOT_FOUND_PATH = "The system cannot find the path specified.\r\n"
DS_TOOLS = ("axexport", "aximport")  # programs in the DS folder, not on the PATH
DS_TOOL_FILES = tuple(f"{tool}.exe" for tool in DS_TOOLS)
NO_TASKS = "INFO: No tasks are running which match the specified criteria.\r\n"
# schtasks /query: the host's scheduled tasks, from DIR/hosts/<host>/scheduled_tasks.json
# ([{"name": "\\DS import", "run": "C:\\...\\import.bat"}]; Lab.schedule_task writes it).
SCHEDULED_TASKS_FILE = "scheduled_tasks.json"
NO_SCHEDULED_TASKS = "INFO: There are no scheduled tasks presently available at your access level.\r\n"
# The first columns of `schtasks /query /fo csv /v` on Windows Server 2008 and later (English);
# the lab writes these, Windows more after them.
SCHTASKS_COLUMNS = (
    "HostName",
    "TaskName",
    "Next Run Time",
    "Status",
    "Logon Mode",
    "Last Run Time",
    "Last Result",
    "Author",
    "Task To Run",
    "Start In",
    "Comment",
    "Scheduled Task State",
)
SLOW_TOOL_SECONDS = 8  # how long the `aximport_slow` fault holds aximport before it imports
Fault = Callable[[str, str], bool]


class Processes:
    """The host's running DS tools, as `tasklist` shows them: shared by every shell of the host,
    so a tool left running by an abandoned shell is seen from a new one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, str] = {}
        self._next_pid = 4000

    @contextlib.contextmanager
    def running(self, image: str) -> Iterator[int]:
        with self._lock:
            self._next_pid += 4
            pid = self._next_pid
            self._running[pid] = image
        try:
            yield pid
        finally:
            with self._lock:
                self._running.pop(pid, None)

    def listed(self) -> list[tuple[str, int]]:
        with self._lock:
            return sorted((image, pid) for pid, image in self._running.items())


@dataclass
class Shell:
    """One WinRM shell's state: its host and current directory."""

    share_dir: Path
    db_path: str
    hostname: str = "DSLAB"
    cwd: str = DS_PATH
    fault: Fault = field(default=lambda name, subject: False)
    stop: threading.Event = field(default_factory=threading.Event)
    processes: Processes = field(default_factory=Processes)
    # NoDefaultCurrentDirectoryInExePath for the line being run (fault `cmd_no_cwd_lookup`)
    no_cwd_lookup: bool = False

    def run(self, line: str) -> tuple[int, bytes, bytes]:
        """Run a command line; (exit code, stdout, stderr) in code page 437."""
        if self.fault("command_hang", line):
            self.stop.wait()  # until the client's Signal terminate or the server stops
            return 1, b"", b"^C"
        out, err = [], []
        code = 0
        self.no_cwd_lookup = self.fault("cmd_no_cwd_lookup", line)
        expanded = _expand(line, {**ENVIRONMENT, "COMPUTERNAME": self.hostname})
        for operator, command in _split_commands(expanded):
            if (operator == "&&" and code != 0) or (operator == "||" and code == 0):
                continue
            code, stdout, stderr = self._one(command, line)
            out.append(stdout)
            err.append(stderr)
            if command.strip().lower().startswith("exit"):
                break
        return code, "".join(out).encode("cp437", "replace"), "".join(err).encode("cp437", "replace")

    # -- paths ------------------------------------------------------------------------------

    def _local(self, windows_path: str) -> Path | None:
        """The share path of a Windows path inside the DS folder, else None."""
        path = PureWindowsPath(windows_path)
        if not path.is_absolute():
            path = PureWindowsPath(self.cwd) / path
        parts = [p for p in path.parts]
        root = PureWindowsPath(DS_PATH).parts
        if [p.lower() for p in parts[: len(root)]] != [p.lower() for p in root]:
            return None
        rest = [p for p in parts[len(root) :] if p not in (".",)]
        if ".." in rest:
            return None
        return self.share_dir.joinpath(*rest)

    def _tool_found(self, program: str) -> bool:
        """A DS tool is found when its file is in the DS folder (host.install_ds_tools), by its
        path there, or by name in the current directory (which must be the DS folder) unless
        current-directory lookup is off."""
        name = PureWindowsPath(program).name.lower().removesuffix(".exe") + ".exe"
        if not (self.share_dir / name).is_file():
            return False
        if "\\" in program or "/" in program:
            return self._local(str(PureWindowsPath(program).parent)) == self.share_dir
        return not self.no_cwd_lookup and self._local(self.cwd) == self.share_dir

    # -- commands ---------------------------------------------------------------------------

    def _one(self, command: str, line: str) -> tuple[int, str, str]:
        args = _arguments(command)
        if not args:
            return 0, "", ""
        name = PureWindowsPath(args[0]).name.lower().removesuffix(".exe")
        builtin = getattr(self, f"_cmd_{name}", None)
        if builtin is not None and name in DS_TOOLS and not self._tool_found(args[0]):
            builtin = None
        if builtin is None:
            return (
                9009,
                "",
                f"'{args[0]}' is not recognized as an internal or external command,\r\n"
                "operable program or batch file.\r\n",
            )
        return builtin(args[1:], line)

    def _cmd_cd(self, args: list[str], line: str) -> tuple[int, str, str]:
        args = [a for a in args if a.lower() != "/d"]
        if not args:
            return 0, self.cwd + "\r\n", ""
        target = " ".join(args)
        local = self._local(target)
        if local is None or not local.is_dir():
            return 1, "", NOT_FOUND_PATH
        full = PureWindowsPath(target if PureWindowsPath(target).is_absolute() else PureWindowsPath(self.cwd) / target)
        self.cwd = str(full)
        return 0, "", ""

    _cmd_chdir = _cmd_cd

    def _cmd_dir(self, args: list[str], line: str) -> tuple[int, str, str]:
        local = self._local(args[0] if args else ".")
        if local is None or not local.is_dir():
            return 1, "", "File Not Found\r\n"
        names = sorted(p.name for p in local.iterdir())
        listing = "".join(f"{n}\r\n" for n in names)
        return 0, f" Directory of {self.cwd}\r\n\r\n{listing}", ""

    def _cmd_del(self, args: list[str], line: str) -> tuple[int, str, str]:
        for arg in (a for a in args if not a.startswith("/")):
            local = self._local(arg)
            if local is None or not local.is_file():
                return 1, "", f"Could Not Find {arg}\r\n"
            local.unlink()
        return 0, "", ""

    _cmd_erase = _cmd_del

    def _cmd_copy(self, args: list[str], line: str) -> tuple[int, str, str]:
        files = [a for a in args if not a.startswith("/")]
        if len(files) != 2:
            return 1, "", "The syntax of the command is incorrect.\r\n"
        source, target = self._local(files[0]), self._local(files[1])
        if source is None or target is None or not source.is_file():
            return 1, "", "The system cannot find the file specified.\r\n"
        target.write_bytes(source.read_bytes())
        return 0, "        1 file(s) copied.\r\n", ""

    def _cmd_type(self, args: list[str], line: str) -> tuple[int, str, str]:
        local = self._local(args[0]) if args else None
        if local is None or not local.is_file():
            return 1, "", "The system cannot find the file specified.\r\n"
        return 0, local.read_bytes().decode("cp437", "replace"), ""

    def _cmd_echo(self, args: list[str], line: str) -> tuple[int, str, str]:
        return 0, " ".join(args) + "\r\n", ""

    def _cmd_exit(self, args: list[str], line: str) -> tuple[int, str, str]:
        numbers = [a for a in args if a.lstrip("-").isdigit()]
        return int(numbers[0]) if numbers else 0, "", ""

    def _cmd_ver(self, args: list[str], line: str) -> tuple[int, str, str]:
        return 0, "\r\nMicrosoft Windows [Version 10.0.17763.1] (DS lab)\r\n", ""

    def _cmd_hostname(self, args: list[str], line: str) -> tuple[int, str, str]:
        return 0, self.hostname + "\r\n", ""

    def _cmd_whoami(self, args: list[str], line: str) -> tuple[int, str, str]:
        return 0, f"{self.hostname.lower()}\\lab\r\n", ""

    def _cmd_tasklist(self, args: list[str], line: str) -> tuple[int, str, str]:
        """`tasklist [/FI "IMAGENAME eq <name>"] [/FO CSV] [/NH]`: the running DS tools."""
        image, csv, header = None, False, True
        i = 0
        while i < len(args):
            arg = args[i].lower()
            if arg == "/fi" and i + 1 < len(args):
                m = re.fullmatch(r"\s*imagename\s+eq\s+(\S+)\s*", args[i + 1], re.IGNORECASE)
                if not m:
                    return 1, "", f"ERROR: The search filter cannot be recognized: {args[i + 1]}\r\n"
                image = m.group(1).lower()
                i += 2
                continue
            if arg == "/fo" and i + 1 < len(args):
                csv = args[i + 1].lower() == "csv"
                i += 2
                continue
            if arg == "/nh":
                header = False
            else:
                return 1, "", f"ERROR: Invalid argument/option - '{args[i]}'.\r\n"
            i += 1
        rows = [(name, pid) for name, pid in self.processes.listed() if image in (None, name.lower())]
        if not rows:
            return 0, NO_TASKS, ""
        if csv:
            out = ['"Image Name","PID","Session Name","Session#","Mem Usage"'] if header else []
            out += [f'"{name}","{pid}","Services","0","10,240 K"' for name, pid in rows]
        else:
            out = ["", "Image Name                     PID Session Name        Session#    Mem Usage"] if header else []
            out += [f"{name:<25}{pid:>8} Services                   0     10,240 K" for name, pid in rows]
        return 0, "".join(f"{row}\r\n" for row in out), ""

    def _cmd_schtasks(self, args: list[str], line: str) -> tuple[int, str, str]:
        """`schtasks [/query] [/fo csv] [/v] [/nh]`: the host's scheduled tasks (read only; the
        lab has no /create: a test writes SCHEDULED_TASKS_FILE)."""
        options = [a.lower() for a in args]
        if options[:1] == ["/query"]:
            options = options[1:]
        if options not in (["/fo", "csv", "/v"], ["/fo", "csv", "/v", "/nh"]):
            return (
                1,
                "",
                f"ERROR: Invalid argument/option - '{' '.join(args)}' (DS lab: only /query /fo csv /v [/nh]).\r\n",
            )
        path = self.share_dir.parent / SCHEDULED_TASKS_FILE
        tasks = json.loads(path.read_text()) if path.exists() else []
        if not tasks:
            return 0, NO_SCHEDULED_TASKS, ""
        rows = [] if "/nh" in options else [SCHTASKS_COLUMNS]
        for task in tasks:
            values = {"HostName": self.hostname, "TaskName": task["name"], "Task To Run": task["run"]}
            rows.append(tuple(values.get(c, "N/A") for c in SCHTASKS_COLUMNS))
        return 0, "".join(",".join(f'"{v}"' for v in row) + "\r\n" for row in rows), ""

    def _cmd_axexport(self, args: list[str], line: str) -> tuple[int, str, str]:
        folder, subfolders, files = None, False, []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg.lower() == "/f" and i + 1 < len(args):
                folder = args[i + 1]
                i += 2
                continue
            if arg.lower() == "/s":
                subfolders = True
            elif arg.startswith("/"):
                return 1, "", f"axExport: unknown switch {arg}\r\n"
            else:
                files.append(arg)
            i += 1
        if folder is None or len(files) != 1:
            return 1, "", 'usage: axexport /f "<job folder>" [/s] <file>\r\n'
        target = self._local(files[0])
        if target is None:
            return 1, "", NOT_FOUND_PATH
        if not target.name.lower().endswith(".bin"):
            return 1, "", f"axExport: the export file name must end in .bin: {files[0]}\r\n"
        if target.exists():
            # the tool asks, and a WinRM shell's stdin never answers: it waits until terminated
            self.stop.wait()
            return 1, f"Overwrite existing file '{files[0]}'? (Y/N) ", "^C"
        with self.processes.running("axexport.exe"):
            result = ax_tools.axexport(self.db_path, folder, subfolders, target, self.fault, line)
        return (result.exit_code, result.output, "") if result.exit_code == 0 else (result.exit_code, "", result.output)

    def _cmd_aximport(self, args: list[str], line: str) -> tuple[int, str, str]:
        overwrite = any(a.lower() == "/o" for a in args)
        files = [a for a in args if not a.startswith("/")]
        unknown = [a for a in args if a.startswith("/") and a.lower() != "/o"]
        if unknown or len(files) != 1:
            return 1, "", "usage: aximport <file> [/o]\r\n"
        source = self._local(files[0])
        if source is None:
            return 1, "", NOT_FOUND_PATH
        with self.processes.running("aximport.exe"):
            # a large folder: the tool runs a while; a terminate (Signal) ends it before it imports
            if self.fault("aximport_slow", line) and self.stop.wait(SLOW_TOOL_SECONDS):
                return 1, "", "^C"
            result = ax_tools.aximport(self.db_path, source, overwrite, self.fault, line, self.hostname)
        return (result.exit_code, result.output, "") if result.exit_code == 0 else (result.exit_code, "", result.output)


def _expand(line: str, environment: dict[str, str]) -> str:
    """%NAME% expansion, before anything else is parsed (undefined names stay as they are)."""

    def value(m: re.Match) -> str:
        return environment.get(m.group(1).upper(), m.group(0))

    return re.sub(r"%([^%\s]+)%", value, line)


def _split_commands(line: str) -> list[tuple[str, str]]:
    """(operator before it, command) for each command of the line."""
    commands, current, operator = [], [], ""
    quoted, i = False, 0
    while i < len(line):
        char = line[i]
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "^" and i + 1 < len(line):
            current.append(char + line[i + 1])
            i += 2
            continue
        elif not quoted and char in "&|":
            double = line[i : i + 2] in ("&&", "||")
            commands.append((operator, "".join(current)))
            operator = line[i : i + 2] if double else char
            current = []
            i += 2 if double else 1
            continue
        current.append(char)
        i += 1
    commands.append((operator, "".join(current)))
    return [(op, cmd) for op, cmd in commands if cmd.strip() or op]


def _arguments(command: str) -> list[str]:
    """Arguments as the C runtime splits them: double quotes group, `^` escapes outside quotes."""
    args, current, quoted, has_arg = [], [], False, False
    i = 0
    while i < len(command):
        char = command[i]
        if char == '"':
            quoted = not quoted
            has_arg = True
        elif char == "^" and not quoted and i + 1 < len(command):
            current.append(command[i + 1])
            has_arg = True
            i += 1
        elif char in " \t" and not quoted:
            if has_arg:
                args.append("".join(current))
                current, has_arg = [], False
        else:
            current.append(char)
            has_arg = True
        i += 1
    if has_arg:
        args.append("".join(current))
    return args
