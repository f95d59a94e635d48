"""Sensors that gate each step on what the servers really hold, not on what a tool printed.

Each poke catches only its own I/O: an error there may pass (poke again) or not (fail now);
a bug elsewhere, such as a missing XCom key, fails the sensor as it should."""

from __future__ import annotations

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException

from ds_replication.lasting import describe, waiting_heals


def poke_again(sensor: BaseSensorOperator, what: str, error: Exception) -> bool:
    """False (poke again) after an error that may pass; an error no wait heals fails the
    sensor now, with its message, instead of costing the whole sensor timeout."""
    if not waiting_heals(error):
        raise AirflowFailException(f"{what}: {describe(error)}; waiting will not heal this") from error
    # A poke that raises would bypass the sensor's timeout in reschedule mode: report the
    # problem and poke again instead.
    sensor.log.warning("%s, poking again: %s", what, describe(error))
    return False
