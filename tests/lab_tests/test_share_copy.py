"""`copy_file` (copy_to_slave) between two lab shares through the share hooks, as the task runs it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ds_replication.hooks.share import DsShareHook
from ds_replication.operators.copy_to_slave import CHUNK_BYTES, copy_file
from tests.labctl import lab_in_environ


@pytest.fixture(scope="module")
def lab():
    with lab_in_environ("copy", seed=False) as lab:
        yield lab


def _shares(lab) -> dict[str, Path]:
    return {host: Path(lab.info["hosts"][host]["share_dir"]) for host in ("master", "slave1")}


def _copy(names: list[str]) -> list[tuple[int, str]]:
    with DsShareHook("ds_master_smb", "express") as source, DsShareHook("ds_slave1_smb", "express") as target:
        return [copy_file(source, target, name) for name in names]


# empty, one byte, a DS export's size, exactly one piece, many pieces and a part of one
SIZES = [0, 1, 16 * 1024, CHUNK_BYTES, 9 * CHUNK_BYTES + 12_345]


def test_every_size_arrives_whole_and_only_under_its_name(lab):
    shares = _shares(lab)
    payloads = {f"copy_{size}.bin": os.urandom(size) for size in SIZES}
    for name, payload in payloads.items():
        (shares["master"] / name).write_bytes(payload)
    results = _copy(list(payloads))
    for (name, payload), (size, digest) in zip(payloads.items(), results, strict=True):
        assert (shares["slave1"] / name).read_bytes() == payload, name
        assert (size, digest) == (len(payload), hashlib.sha256(payload).hexdigest()), name
    assert not [p.name for p in shares["slave1"].iterdir() if p.name.endswith(".part")]


def test_a_copy_replaces_the_file_and_a_longer_partial_copy_left_by_an_earlier_try(lab):
    shares = _shares(lab)
    payload = os.urandom(3 * CHUNK_BYTES // 2)
    (shares["master"] / "again.bin").write_bytes(payload)
    (shares["slave1"] / "again.bin").write_bytes(b"last night's file")
    (shares["slave1"] / "again.bin.part").write_bytes(os.urandom(3 * CHUNK_BYTES))  # longer: must not survive
    assert _copy(["again.bin"]) == [(len(payload), hashlib.sha256(payload).hexdigest())]
    assert (shares["slave1"] / "again.bin").read_bytes() == payload
    assert not (shares["slave1"] / "again.bin.part").exists()
