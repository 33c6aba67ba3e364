"""The `/usage` picture: credits per day stacked by action, the budget line, the top members.

Drawn with matplotlib's Agg backend (no display needed) into PNG bytes. Drawing takes tens of
milliseconds of CPU, so callers run `render_png` in a thread (`asyncio.to_thread`), never on the
event loop.
"""

from __future__ import annotations

import io
from itertools import accumulate

import matplotlib

matplotlib.use("Agg")  # before pyplot: a server has no display

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .usage import TOP_MEMBERS, UsageReport


def render_png(report: UsageReport, member_names: dict[int, str]) -> bytes:
    """PNG bytes of the report (`member_names`: id → display name, for the top-members panel)."""
    figure: Figure = plt.figure(figsize=(10, 4.5), dpi=100)
    try:
        chart, members = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
        labels = [day[5:] for day in report.days]
        bottom = [0] * len(report.days)
        for action in report.actions or ["credits"]:
            heights = [report.by_day[day].get(action, 0) for day in report.days]
            chart.bar(labels, heights, bottom=bottom, label=action)
            bottom = [low + high for low, high in zip(bottom, heights, strict=True)]
        chart.plot(labels, list(accumulate(bottom)), color="black", linewidth=1, label="running total")
        if report.budget:
            chart.axhline(report.budget, color="red", linestyle="--", label=f"monthly budget ({report.budget})")
        chart.set_title(f"Credits per day ({report.days[0]} to {report.days[-1]}, UTC): {report.total} in all")
        chart.set_ylabel("credits")
        chart.tick_params(axis="x", labelrotation=90, labelsize=7)
        chart.legend(loc="upper left", fontsize=8)
        top = report.by_member[:TOP_MEMBERS]
        names = [member_names.get(user, str(user))[:20] for user, _ in top]
        members.barh(names[::-1], [credits for _, credits in top][::-1], color="tab:purple")
        members.set_title("Top members")
        members.set_xlabel("credits")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)
