"""What preflight found on the slave (a leftover backup, an older procedure's table, capture
triggers left armed), in the words of its alert mail."""

from __future__ import annotations

from typing import Any

from ds_replication import capture_sessions, history


def headline(figures: dict[str, Any]) -> str:
    if figures["leftover_rows"]:
        return f"{figures['leftover_rows']} history rows held from an earlier run"
    if figures["legacy_tables"]:
        return f"{', '.join(figures['legacy_tables'])} of an older procedure found, rows adopted"
    return "capture triggers left armed by an import that did not finish"


def findings(figures: dict[str, Any]) -> list[str]:
    lines = []
    if figures["legacy_tables"]:
        lines.append(
            f"Found {', '.join(figures['legacy_tables'])} from an older procedure (the seed article's script "
            f"or an older version of this package): left as it is; {figures['adopted_rows']} of its history "
            f"rows were adopted into {history.BACKUP_TABLE}, to be restored or archived like any held row. "
            "Disable the old import script; the old table can be dropped once adopted."
        )
    if figures["armed_capture_triggers"]:
        lines.append(
            f"Found the capture trigger(s) {', '.join(figures['armed_capture_triggers'])} armed by an import "
            "that did not finish (a killed worker): they stay armed, copying deleted history into the "
            "backup, until this run's restore_history disarms them."
            + _caught(figures.get("captured_while_left_armed") or {})
        )
    if figures["leftover_rows"]:
        lines.append(
            f"The slave still held {figures['leftover_rows']} history rows in {history.BACKUP_TABLE} from a run "
            "that did not finish (a failure, or a worker killed before its alert could go out)."
        )
        lines.append(
            f"Rows put back now (their jobs exist): {figures['restored_rows']}. This run goes on and keeps the "
            "backup until its import and restore succeed."
        )
    return lines + capture_sessions.report_lines(figures)


def _caught(by_table: dict[str, int]) -> str:
    """What the triggers left armed caught meanwhile: any session's deletes, the DS console's too."""
    if not by_table:
        return ""
    counts = ", ".join(f"{n} from {table}" for table, n in by_table.items())
    return f" Rows they caught since (deletes by any session, the DS console's too; kept and restored): {counts}."
