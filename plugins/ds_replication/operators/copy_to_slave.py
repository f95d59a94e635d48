"""`copy_to_slave`: stream the export files from the master's share to the slave's share."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException

from ds_replication.ds_host import DsHost
from ds_replication.hooks.smb_lane import CREDIT_BYTES, Lane
from ds_replication.run_files import partial_name

if TYPE_CHECKING:  # the SMB client is imported by the task that copies
    from airflow.providers.samba.hooks.samba import SambaHook

# Bytes per SMB request and requests in flight per lane. 1 MiB pieces, 8 ahead, measured best
# on the lab (docs/performance.md, "Share copy"): larger pieces cost smbprotocol more copying per request.
CHUNK_BYTES = 1024 * 1024
DEPTH = 8
# credits to ask for on the slave's connection: its writes and its checks in flight
_WINDOW = 2 * DEPTH * (CHUNK_BYTES // CREDIT_BYTES)


class CopyMismatch(AirflowException):
    pass


def _pipe(reader: Any, writer: Any, name: str, part: str) -> tuple[int, str]:
    """Read the master's file, write each piece to the slave's partial copy and read it back
    there once written, several requests in flight on each; raise CopyMismatch when a piece
    read back differs from the one read. (size, sha256 of the master's bytes)."""
    size = reader.end_of_file
    reads = Lane(reader, "read", DEPTH, CHUNK_BYTES, _WINDOW // 2)
    writes = Lane(writer, "write", DEPTH, CHUNK_BYTES, _WINDOW)
    checks = Lane(writer, "read", DEPTH, CHUNK_BYTES, _WINDOW)
    unwritten: deque[tuple[int, bytes]] = deque()  # read, waiting for room to be written
    unchecked: deque[tuple[int, bytes]] = deque()  # written, waiting for room to be read back
    digest, offset, hashed = hashlib.sha256(), 0, 0

    def slave_waiting() -> bool:
        return bool(writes.in_flight or checks.in_flight)

    while offset < size or unwritten or unchecked or reads.in_flight or writes.in_flight or checks.in_flight:
        while offset < size and len(unwritten) < DEPTH and (n := reads.room(size - offset, False)):
            reads.read(offset, n)
            offset += n
        while unwritten and (n := writes.room(len(unwritten[0][1]), slave_waiting())):
            at, data = unwritten.popleft()
            writes.write(at, data[:n])
            if n < len(data):
                unwritten.appendleft((at + n, data[n:]))
        while unchecked and (n := checks.room(len(unchecked[0][1]), slave_waiting())):
            at, data = unchecked.popleft()
            checks.read(at, n, expect=data[:n])
            if n < len(data):
                unchecked.appendleft((at + n, data[n:]))
        # take the answer to the request sent first: it is the one most likely in already
        lane = min((lane for lane in (reads, writes, checks) if lane.in_flight), key=Lane.oldest, default=None)
        if lane is None:  # nothing in flight and nothing could be sent: a server without credits to give
            raise AirflowException(f"copy of {name}: an SMB server granted no credits to send a request with")
        sent, answer = lane.take()
        if lane is reads:
            if not answer:
                raise CopyMismatch(f"{name} on the master ended at {sent.offset} bytes, not {size}: it changed")
            if len(answer) < sent.length:  # a short read: ask again for the rest, first
                reads.read(sent.offset + len(answer), sent.length - len(answer), first=True)
            if sent.offset != hashed:
                raise CopyMismatch(f"{name}: read {sent.offset} out of order (at {hashed})")  # not expected
            digest.update(answer)
            hashed += len(answer)
            unwritten.append((sent.offset, answer))
        elif lane is writes:
            unchecked.append((sent.offset, sent.data[:answer]))
            if answer < sent.length:  # a short write: the rest is written again
                unwritten.appendleft((sent.offset + answer, sent.data[answer:]))
        else:
            if answer != sent.data[: len(answer)] or not answer:
                raise CopyMismatch(
                    f"copy of {name} does not match: the slave's {part} differs from the master's file in the "
                    f"{sent.length} bytes at offset {sent.offset}; the partial copy is not used"
                )
            if len(answer) < sent.length:
                unchecked.appendleft((sent.offset + len(answer), sent.data[len(answer) :]))
    return size, digest.hexdigest()


def copy_file(source: SambaHook, target: SambaHook, name: str) -> tuple[int, str]:
    """Copy `name` between two open share hooks; the target name appears only once verified:
    every byte of the partial copy read back from the slave equal to the byte read from the
    master at its offset, and the slave's file exactly as long."""
    part = partial_name(name)
    # unbuffered: the raw files, whose `fd` is the open smbprotocol file. The partial copy is
    # opened to read and write, exclusively (no one else can open it until it is closed).
    with source.open_file(name, "rb", buffering=0) as reader, target.open_file(part, "w+b", buffering=0) as writer:
        size, digest = _pipe(reader.fd, writer.fd, name, part)
        writer.fd.close(get_attributes=True)  # the server says how long the file is as it closes it
        on_slave = writer.fd.end_of_file
    if on_slave != size:
        raise CopyMismatch(
            f"copy of {name} does not match: read {size} bytes, the slave's {part} has {on_slave}; "
            "the partial copy is not used"
        )
    from ds_replication.hooks.share import replace_file  # the SMB client: only in the task that copies

    replace_file(target, part, name)
    return size, digest


class CopyToSlaveOperator(BaseOperator):
    """Copy the run's export files share to share through the worker, each piece read back from the slave and compared.

    :param master: the master (the files are on its share).
    :param slave: the slave (they go to its share).
    :param export: export_jobs' result (templated: an XComArg): its `files`.
    """

    template_fields: Sequence[str] = ("export",)
    ui_color = "#cfe2f3"

    def __init__(self, *, master: DsHost, slave: DsHost, export: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.master = master
        self.slave = slave
        self.export = export

    def execute(self, context: Context) -> dict[str, Any]:
        copied: dict[str, dict[str, Any]] = {}
        with self.master.share_hook() as source, self.slave.share_hook() as target:
            for name in self.export["files"]:
                size, digest = copy_file(source, target, name)
                copied[name] = {"bytes": size, "sha256": digest}
                self.log.info("copied %s: %d bytes, sha256 %s", name, size, digest)
        return {"files": copied, "bytes": sum(c["bytes"] for c in copied.values())}
