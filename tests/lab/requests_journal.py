"""What a host was asked, for tests that must show a client only read: every SQL batch the TDS
server received and every command line the WinRM shell ran, one JSON line each, in
`DIR/hosts/<host>/requests.jsonl`.

Off unless that file exists (a test creates it, reads it, removes it: `Lab.requests`), so a
request costs one `stat` while nobody listens.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

FILE_NAME = "requests.jsonl"


class RequestsJournal:
    def __init__(self, host_dir: Path) -> None:
        self.path = Path(host_dir) / FILE_NAME
        self._lock = threading.Lock()

    def record(self, protocol: str, text: str) -> None:
        """Append `text` received over `protocol` ("sql" or "winrm") when the journal is on."""
        if not self.path.exists():
            return
        line = json.dumps({"protocol": protocol, "text": text}) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as out:
            out.write(line)


def read(host_dir: Path) -> list[dict[str, str]]:
    path = Path(host_dir) / FILE_NAME
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
