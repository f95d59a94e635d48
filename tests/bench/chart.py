"""The bench's ratios as one small PNG: a bar per ratio, its target as a mark.

Every section's result may carry `"ratios": {name: {"ratio": float, "target": float | None,
"why": str}}` (product / anchor of the same run; the target is the issue's bound, lower is better;
"why": what the run measured that explains a ratio beyond its target); `ratios` collects them,
`draw` plots them on a log scale with 1 (the anchor) as a line.
"""

from __future__ import annotations

from pathlib import Path


def ratios(results: dict) -> list[tuple[str, float, float | None]]:
    """(section: name, ratio, target) of every section that reports ratios, in section order."""
    rows = []
    for section, result in results.items():
        if isinstance(result, dict):
            for name, figure in result.get("ratios", {}).items():
                rows.append((f"{section}: {name}", float(figure["ratio"]), figure.get("target")))
    return rows


def draw(results: dict, path: Path) -> Path | None:
    """The PNG at `path`; None when no section reported a ratio."""
    rows = ratios(results)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2), dpi=100)
    y = list(range(len(rows)))[::-1]
    values = [ratio for _, ratio, _ in rows]
    colours = [
        "tab:red" if target is not None and ratio > target else "tab:green" if target is not None else "tab:blue"
        for _, ratio, target in rows
    ]
    ax.barh(y, values, color=colours, height=0.6)
    for row_y, (_, ratio, target) in zip(y, rows, strict=True):
        ax.annotate(f"{ratio:.2f}x", (ratio, row_y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
        if target is not None:
            ax.plot([target, target], [row_y - 0.4, row_y + 0.4], color="black", linewidth=2)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels crowd each other
    ax.set_yticks(y, [label for label, _, _ in rows], fontsize=8)
    ax.set_xlabel("ratio to the anchor, same run (log; black mark = target, lower is better)")
    ax.set_title("make bench: ratios (green within target, red beyond, blue no target)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
