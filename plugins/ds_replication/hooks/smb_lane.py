"""Several SMB2 reads or writes in flight on one open file: what keeps a share copy's wire busy.

smbclient's file objects send one request and wait for its answer, so the wire idles for a
round trip per chunk. A `Lane` sends requests ahead on an open file (smbprotocol's `Open`) and
hands the answers back in the order it sent them, within the credits the server granted: a
request of n bytes costs ceil(n / 64 KiB) credits (MS-SMB2 3.2.4.1.5), and each request asks
for a few more until the connection's window holds what its lanes keep in flight.

smbprotocol signs (or encrypts) each request and matches answers to requests itself; the
watchdog of `DsShareHook` sees the requests a lane leaves waiting as any other.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import Any

CREDIT_BYTES = 64 * 1024  # one credit's worth of payload (MS-SMB2 3.1.5.2)

_sent_order = itertools.count()


@dataclass
class InFlight:
    """One request sent and not yet taken: its place in the file and, for a write or a check,
    the bytes it wrote or expects."""

    offset: int
    length: int
    data: bytes | None
    order: int
    request: Any
    receive: Any


class Lane:
    """Reads (`read`) or writes (`write`) on one open file, at most `depth` requests in flight.

    :param fd: an open smbprotocol `Open` (`SMBRawIO.fd` of a file smbclient opened).
    :param chunk: bytes per request, bounded by what the server negotiated.
    :param window: credits to ask for on this connection (shared by the lanes on it).
    """

    def __init__(self, fd: Any, operation: str, depth: int, chunk: int, window: int) -> None:
        self.fd = fd
        self.connection = fd.connection
        self.operation = operation
        self.depth = depth
        self.multi_credit = bool(self.connection.supports_multi_credit)
        negotiated = getattr(self.connection, f"max_{operation}_size")
        # without multi-credit support (SMB 2.0.2) a request carries at most 64 KiB
        self.chunk = min(chunk, negotiated) if self.multi_credit else min(chunk, CREDIT_BYTES)
        self.window = window
        self.in_flight: deque[InFlight] = deque()

    def _charge(self, length: int) -> int:
        return (max(length, 1) - 1) // CREDIT_BYTES + 1 if self.multi_credit else 1

    def _credits(self) -> int:
        window = self.connection.sequence_window
        return window["high"] - window["low"]

    def room(self, length: int, others_waiting: bool) -> int:
        """How many of `length` bytes a request could carry now (0: wait for an answer first).
        With answers to come on the connection (`others_waiting`), a request waits for credits
        rather than go out small; with none, it goes out as large as the credits allow."""
        if len(self.in_flight) >= self.depth:
            return 0
        length = min(length, self.chunk)
        credits = self._credits()
        if credits >= self._charge(length):
            return length
        if others_waiting or self.in_flight or credits < 1:
            return 0
        return min(length, credits * CREDIT_BYTES) if self.multi_credit else length

    def _send(self, message: Any, length: int) -> Any:
        charge = self._charge(length)
        # ask for twice what it costs until the window is as wide as wanted, then for its cost
        credit_request = 2 * charge if self._credits() < self.window else charge
        tree = self.fd.tree_connect
        return self.connection.send(
            message, sid=tree.session.session_id, tid=tree.tree_connect_id, credit_request=credit_request
        )

    def read(self, offset: int, length: int, expect: bytes | None = None, first: bool = False) -> None:
        """Ask for `length` bytes at `offset`; `expect`: the bytes they must be (a check);
        `first`: its answer is taken before those already in flight (the rest of a short read)."""
        message, receive = self.fd.read(offset, length, send=False)
        sent = InFlight(offset, length, expect, next(_sent_order), self._send(message, length), receive)
        if first:
            self.in_flight.appendleft(sent)
        else:
            self.in_flight.append(sent)

    def write(self, offset: int, data: bytes) -> None:
        message, receive = self.fd.write(data, offset=offset, send=False)
        request = self._send(message, len(data))
        self.in_flight.append(InFlight(offset, len(data), data, next(_sent_order), request, receive))

    def oldest(self) -> int | None:
        """When the oldest request in flight was sent (a global order), None when none is."""
        return self.in_flight[0].order if self.in_flight else None

    def take(self) -> tuple[InFlight, Any]:
        """Wait for the oldest request's answer: (the request, the bytes read or the count written).
        An error answer raises here, as smbprotocol raises it."""
        sent = self.in_flight.popleft()
        return sent, sent.receive(sent.request)
