"""Names of the files one run puts on the shares, derived from the run so retries reuse them."""

from __future__ import annotations

import hashlib
import re
from typing import Any


def run_key(run_id: str) -> str:
    return hashlib.sha1(run_id.encode(), usedforsecurity=False).hexdigest()[:12]


def export_file_names(slave: str, run_id: str, folders: list[dict[str, Any]]) -> list[str]:
    """One export file per folder: `dsrepl_<slave>_<run key>_<n>.bin`."""
    key = run_key(run_id)
    return [f"dsrepl_{slave}_{key}_{n}.bin" for n in range(1, len(folders) + 1)]


def slave_file_pattern(slave: str) -> re.Pattern[str]:
    """Every name a run of this slave's DAG writes on a share (an export file or its partial
    copy) and nothing else: a prefix alone would also match slave `site_a`'s files for `site`."""
    return re.compile(rf"dsrepl_{re.escape(slave)}_[0-9a-f]{{12}}_[0-9]+\.bin(?:\.part)?", re.IGNORECASE)


def partial_name(name: str) -> str:
    """Where a copy is written before it is verified and renamed."""
    return f"{name}.part"


def tool_partial_name(name: str) -> str:
    """Where a DS tool writes `<x>.bin` before it is kept: a name that still ends in `.bin`,
    since axexport may require (or append) that extension."""
    return f"{name.removesuffix('.bin')}.part.bin"


def selected_folders(configured: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """The configured folders a manual run asked for (all of them when it asked for none)."""
    wanted = params.get("folders") or []
    if not wanted:
        return list(configured)
    by_name = {f["name"].lower(): f for f in configured}
    unknown = [w for w in wanted if str(w).lower() not in by_name]
    if unknown:
        raise ValueError(
            f"params.folders: {unknown} not configured for this slave; choose from {[f['name'] for f in configured]}"
        )
    return [by_name[str(w).lower()] for w in wanted]
