"""What the lab tests share: no fault left armed after a test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab import faults
from tests.labctl import Lab


@pytest.fixture
def no_faults_left(lab: Lab) -> Iterator[None]:
    """Every fault a test armed is cleared after it, passed or failed."""
    yield
    for host in lab.info["hosts"]:
        faults.clear(lab.dir, host)
