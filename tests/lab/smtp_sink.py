"""The lab's SMTP sink: accepts every message and keeps it as DIR/mail/<n>.eml.

`python -m tests.lab.smtp_sink --dir DIR --port-file FILE` runs it until SIGTERM.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import signal
import threading
from pathlib import Path

from aiosmtpd.controller import Controller

from tests.lab.smb import free_port


class MailDrop:
    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        with self.lock:
            n = len(list(self.mail_dir.glob("*.eml"))) + 1
            (self.mail_dir / f"{n:05d}.eml").write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def read_messages(mail_dir: Path) -> list[dict]:
    """The messages received, oldest first, as {from, to, subject, body}."""
    messages = []
    for path in sorted(mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        part = message.get_body(preferencelist=("plain", "html"))
        messages.append(
            {
                "from": str(message.get("From", "")),
                "to": str(message.get("To", "")),
                "subject": str(message.get("Subject", "")),
                "body": part.get_content() if part is not None else "",
            }
        )
    return messages


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    mail_dir = Path(args.dir) / "mail"
    mail_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):  # a port picked free can be taken before the sink binds it
        port = free_port()
        controller = Controller(MailDrop(mail_dir), hostname="127.0.0.1", port=port)
        try:
            controller.start()
            break
        except OSError:
            if attempt == 2:
                raise
    # written whole, then renamed: `lab up` reads the file as soon as it exists (an empty one
    # under load failed the lab's start with a JSON error)
    tmp = Path(args.port_file + ".tmp")
    tmp.write_text(json.dumps({"smtp_port": port}))
    tmp.replace(args.port_file)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    controller.stop()


if __name__ == "__main__":
    main()
