"""The chart of ``appeals routing heldout``: coverage per probe file, words alone vs second opinion.

Coverage is the bar (what the issue's 0.90 is about); precision is written on it, because a bar
of coverage bought with wrong dispatches is no gain. matplotlib is a dev dependency (as for
``appeals bench --chart``), imported only here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["draw_heldout_chart", "heldout_bars"]

TARGET_COVERAGE = 0.90  # issue 8: precision >= 0.99 at coverage >= 0.90


def heldout_bars(report: dict[str, Any]) -> list[tuple[str, list[tuple[str, float, float]]]]:
    """[(file, [(variant, coverage, precision), ...]), ...] in the report's order."""
    variants = report["variants"]
    names: list[str] = []
    for variant in variants.values():
        names += [n for n in variant["files"] if n not in names]
    return [
        (
            name,
            [
                (label, v["files"][name]["coverage"], v["files"][name]["precision"])
                for label, v in variants.items()
                if name in v["files"]
            ],
        )
        for name in names
    ]


def draw_heldout_chart(report: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = heldout_bars(report)
    labels = list(report["variants"])
    height = 0.8 / max(len(labels), 1)
    fig, ax = plt.subplots(figsize=(8.5, 0.75 * len(bars) + 1.8))
    for i, label in enumerate(labels):
        rows = [(r, next((b for b in group if b[0] == label), None)) for r, (_, group) in
                enumerate(bars)]  # fmt: skip
        ys = [r - 0.4 + height * (i + 0.5) for r, b in rows if b]
        drawn = ax.barh(ys, [b[1] for _, b in rows if b], height=height, label=label)
        ax.bar_label(drawn, labels=[f"{b[1]:.2f} (precision {b[2]:.3f})" for _, b in rows if b],
                     fontsize=7, padding=2)  # fmt: skip
    ax.axvline(TARGET_COVERAGE, color="grey", linestyle="--", linewidth=1)
    ax.text(TARGET_COVERAGE, -0.7, " target 0.90", fontsize=7, color="grey")
    ax.set_yticks(range(len(bars)), [name for name, _ in bars])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.3)
    ax.set_xlabel(f"coverage at threshold {report['threshold']:.2f} (precision in brackets)")
    ax.set_title("Routing on held-out appeals: words alone and with the second opinion")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
