"""The tier chart: per policy table, which months live in which tier (hot, warm, archive, warehouse),
with the months that break the policy marked. A PNG drawn with matplotlib's Agg backend.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

from tierflow.report.model import Report, TableReport, month_range

if TYPE_CHECKING:
    from matplotlib.artist import Artist

TIERS = [
    ("redis", "hot (Redis)", "#d62728"),
    ("mysql", "warm (MySQL)", "#ff9f1c"),
    ("archive", "archive (S3)", "#1f77b4"),
    ("warehouse", "warehouse", "#2ca02c"),
]
VIOLATION_COLOUR = "#b00020"


def violation_months(t: TableReport) -> dict[str, set[str]]:
    """Months per tier that break the policy: MySQL rows past warm + grace, Redis entries past
    the hot window, archive partitions missing from the ledger or catalog."""
    marked: dict[str, set[str]] = {}
    m = t.mysql
    if m and m.overdue_rows and m.oldest and m.newest_overdue:
        marked["mysql"] = set(month_range(m.oldest, m.newest_overdue))
    r = t.redis
    if r and r.stale_entries and r.oldest and t.hot_cutoff:
        marked["redis"] = set(month_range(r.oldest, t.hot_cutoff))
    a = t.archive
    if a:
        bad = [*(a.unledgered_partitions or []), *(a.uncataloged_partitions or [])]
        if bad:
            marked["archive"] = {p[:7] for p in bad}
    return marked


def render_png(report: Report) -> bytes:
    """The chart as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    all_months = sorted({mo for t in report.tables for months in t.months.values() for mo in months})
    as_of_month = report.as_of[:7]
    if not all_months:
        all_months = [as_of_month]
    # The axis ends at the as-of month: rows dated later (EMIs due next year) are not history.
    axis = month_range(min(all_months[0], as_of_month), as_of_month)
    index = {mo: i for i, mo in enumerate(axis)}
    lane = 0.8 / len(TIERS)
    n = len(report.tables)

    fig, ax = plt.subplots(figsize=(max(9, 0.16 * len(axis) + 4), 0.9 * n + 1.8), dpi=110)
    for row, t in enumerate(report.tables):
        y0 = n - 1 - row - 0.4
        marked = violation_months(t)
        for k, (tier, _label, colour) in enumerate(TIERS):
            months = t.months.get(tier, [])
            y = y0 + (len(TIERS) - 1 - k) * lane
            bars = [(index[mo], 1) for mo in months if mo in index]
            if bars:
                ax.broken_barh(bars, (y, lane * 0.9), facecolors=colour, alpha=0.85)
            bad = [(index[mo], 1) for mo in sorted(marked.get(tier, ())) if mo in index]
            if bad:
                ax.broken_barh(
                    bad,
                    (y, lane * 0.9),
                    facecolors="none",
                    edgecolors=VIOLATION_COLOUR,
                    hatch="xxx",
                    linewidth=0.8,
                )
        cutoff = t.warm_cutoff[:7]
        if cutoff in index:
            ax.plot([index[cutoff]] * 2, [y0, y0 + 0.8], color="black", linewidth=1.2, linestyle="--")
    ax.set_yticks([n - 1 - i for i in range(n)])
    ax.set_yticklabels([f"{t.name} ⚠" if violation_months(t) else t.name for t in report.tables], fontsize=9)
    step = max(1, len(axis) // 18)
    ax.set_xticks([i + 0.5 for i in range(0, len(axis), step)])
    ax.set_xticklabels(axis[::step], rotation=45, ha="right", fontsize=8)
    ax.set_xlim(0, len(axis))
    ax.set_ylim(-0.6, n - 0.4)
    ax.grid(axis="x", alpha=0.2)
    handles: list[Artist] = [Patch(facecolor=c, label=label) for _t, label, c in TIERS]
    handles.append(Patch(facecolor="none", edgecolor=VIOLATION_COLOUR, hatch="xxx", label="violation"))
    handles.append(plt.Line2D([], [], color="black", linestyle="--", label="warm window cutoff"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    ax.set_title(
        f"Months per tier, as of {report.as_of[:10]} — {report.status.upper()}, "
        f"{len(report.red)} violation(s)",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    out = BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def draw(report: Report, path: str | Path) -> Path:
    """Write the chart to ``path`` (PNG); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_png(report))
    return path
