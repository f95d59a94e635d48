"""Hooks on the providers' hooks: each owns one protocol to a DS server and checks the
connection fields it needs (`check_fields`) before it connects."""

from __future__ import annotations


class ConnectionFieldError(ValueError):
    """An Airflow connection lacks a field this package needs, or holds an unusable value."""

    def __init__(self, conn_id: str, field: str, problem: str) -> None:
        super().__init__(f"connection {conn_id}: {field} {problem}")
        self.conn_id = conn_id
        self.field = field
