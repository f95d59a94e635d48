"""What the lab tests share: no fault left armed after a test; a fresh `express` database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import ds_schema, faults
from tests.labctl import Lab


@pytest.fixture
def no_faults_left(lab: Lab) -> Iterator[None]:
    """Every fault a test armed is cleared after it, passed or failed."""
    yield
    for host in lab.info["hosts"]:
        faults.clear(lab.dir, host)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A lab `express` database of the default schema, for an in-process T-SQL engine."""
    path = tmp_path / "express.db"
    ds_schema.create_express(path)
    return path
