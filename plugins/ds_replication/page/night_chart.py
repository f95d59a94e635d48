"""A slave's last nights as a small inline SVG: one stacked bar per real run, history rows
kept (green), held in the backup at its end (orange), lost (red); a failed run is marked."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from ds_replication.page.run_figures import Night

BAR, GAP, HEIGHT, MARK = 5, 1, 30, 4
COLOURS = {"kept": "#3a7d44", "held": "#e08a00", "lost": "#c62828"}


def night_chart(nights: list[Night], run_href: Callable[[str], str], slots: int = 30) -> str:
    """`nights` oldest first; each bar links (`run_href(run_id)`) to its run's view."""
    width = slots * (BAR + GAP)
    if not nights:
        size = f'width="{width}" height="{HEIGHT + MARK}"'
        return f'<svg class="nights" {size} role="img"><title>no run yet</title></svg>'
    top = max((n.kept + n.held + n.lost for n in nights), default=0) or 1
    bars = []
    for i, night in enumerate(nights[-slots:]):
        x, y = i * (BAR + GAP), HEIGHT
        parts = []
        for name, rows in (("kept", night.kept), ("held", night.held), ("lost", night.lost)):
            if not rows:
                continue
            h = max(round(HEIGHT * rows / top), 1)
            y -= h
            parts.append(f'<rect x="{x}" y="{y}" width="{BAR}" height="{h}" fill="{COLOURS[name]}"/>')
        if night.state == "failed":
            parts.append(f'<rect x="{x}" y="{HEIGHT + 1}" width="{BAR}" height="{MARK - 1}" fill="{COLOURS["lost"]}"/>')
        if not parts:  # a night with nothing to keep: a grey tick, so that it shows
            parts.append(f'<rect x="{x}" y="{HEIGHT - 1}" width="{BAR}" height="1" fill="#999"/>')
        title = f"{night.run_id} ({night.state}): kept {night.kept}, held {night.held}, lost {night.lost}"
        bars.append(f'<a href="{escape(run_href(night.run_id))}"><title>{escape(title)}</title>{"".join(parts)}</a>')
    label = f"last {len(nights)} nights: history rows kept, held, lost"
    return (
        f'<svg class="nights" width="{width}" height="{HEIGHT + MARK}" role="img" aria-label="{escape(label)}">'
        f"{''.join(bars)}</svg>"
    )
