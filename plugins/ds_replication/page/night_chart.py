"""A slave's last nights as a small inline SVG: one stacked bar per real run, history rows
kept (green), held in the backup at its end (orange), lost (red); a failed run is marked; the
dates of the first, middle and last bar under them (shown in the operator's time zone)."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from ds_replication.page.run_figures import Night

BAR, GAP, HEIGHT, MARK, AXIS = 8, 2, 30, 4, 12
LABEL = 70  # px between two date labels' anchors, so that they never overlap
COLOURS = {"kept": "#3a7d44", "held": "#e08a00", "lost": "#c62828"}


def _date_label(night: Night, x: int, anchor: str) -> str:
    if night.when is None:
        return ""
    iso = night.when.isoformat()
    text = night.when.strftime("%m-%d")
    y = HEIGHT + MARK + AXIS - 2
    return f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="10" fill="#555" data-date="{iso}">{text}</text>'


def night_chart(nights: list[Night], run_href: Callable[[str], str], slots: int = 30) -> str:
    """`nights` oldest first; each bar links (`run_href(run_id)`) to its run's view."""
    width = slots * (BAR + GAP)
    size = f'width="{width}" height="{HEIGHT + MARK + AXIS}" viewBox="0 0 {width} {HEIGHT + MARK + AXIS}"'
    if not nights:
        return f'<svg class="nights" {size} role="img"><title>no run yet</title></svg>'
    shown = nights[-slots:]
    top = max((n.kept + n.held + n.lost for n in shown), default=0) or 1
    bars = []
    for i, night in enumerate(shown):
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
        when = night.when.strftime("%Y-%m-%d %H:%M UTC") if night.when else ""
        title = f"{when} {night.run_id} ({night.state}): kept {night.kept}, held {night.held}, lost {night.lost}"
        bars.append(f'<a href="{escape(run_href(night.run_id))}"><title>{escape(title)}</title>{"".join(parts)}</a>')
    # dates under the first, middle and last bar, as far as they fit (a label is ~30 px wide)
    step, last = BAR + GAP, len(shown) - 1
    labels = [_date_label(shown[0], 0, "start")]
    if last * step >= 2 * LABEL:
        labels.append(_date_label(shown[last // 2], (last // 2) * step + BAR // 2, "middle"))
    if last * step >= LABEL:
        labels.append(_date_label(shown[last], last * step + BAR, "end"))
    label = f"last {len(shown)} nights: history rows kept, held, lost"
    return f'<svg class="nights" {size} role="img" aria-label="{escape(label)}">{"".join(bars)}{"".join(labels)}</svg>'
