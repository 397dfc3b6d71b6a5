"""Matplotlib (Agg) plots of a recorder time series, returned as PNG bytes for embedding."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.ticker import PercentFormatter

from experiments.timeseries import Analysis, Slo, TimeSeries

_FAULT_COLOUR = "#f4a259"
_RECOVERY_COLOUR = "#2a9d8f"
_DETECT_COLOUR = "#6a4c93"
_LIMIT_COLOUR = "#e76f51"
_RATIO_PANELS = ("error rate", "degraded share")


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _rolling_rate(counts: list[int], interval_s: float, window_s: float = 1.0) -> list[float]:
    """Requests/s over a trailing window: per-100 ms counts of a steady 15 rps alternate
    between 1 and 2, which would plot as a 10–20 rps sawtooth."""
    width = max(1, round(window_s / interval_s))
    rates, total = [], 0
    for i, count in enumerate(counts):
        total += count - (counts[i - width] if i >= width else 0)
        rates.append(total / (min(i + 1, width) * interval_s))
    return rates


def _scale(ax, values: list[float], limit: float | None) -> None:
    """From 0 to a little above the larger of the data and the limit, so both show."""
    finite = [v for v in values if v == v]
    top = max([*finite, limit or 0.0, 0.0])
    ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)


def _status(analysis: Analysis) -> str:
    if analysis.fault_window is None:
        return "no fault window"
    if analysis.recovery_s is None:
        return "not recovered"
    if not analysis.breached:
        return "SLO held through the fault"
    return f"recovered in {analysis.recovery_s:.1f} s"


def timeseries_png(
    series: TimeSeries,
    analysis: Analysis,
    slo: Slo,
    title: str,
    detect_s: float | None = None,
) -> bytes:
    """Requests/s, error rate, degraded ratio and p99 on one time axis.

    The fault window is shaded, detection (when measured) and recovery are marked, and
    every panel with a limit draws it, so a reader sees how close the line came.
    """
    t = [s.t for s in series.samples]
    panels = [
        (
            "requests/s (1 s window)",
            _rolling_rate([s.requests for s in series.samples], series.interval_s),
            None,
        ),
        (
            "error rate",
            [_ratio(s.errors, s.requests) for s in series.samples],
            1.0 - slo.availability,
        ),
        (
            "degraded share",
            [_ratio(s.degraded, s.requests) for s in series.samples],
            slo.max_degraded_ratio,
        ),
        (
            "p99 (ms)",
            [s.p99_ms if s.p99_ms is not None else float("nan") for s in series.samples],
            slo.p99_ms,
        ),
    ]
    fig, axes = plt.subplots(len(panels), 1, sharex=True, figsize=(9, 6.5), dpi=90)
    try:
        for ax, (label, values, budget) in zip(axes, panels, strict=True):
            ax.plot(t, values, linewidth=1.2, color="#264653")
            ax.set_ylabel(label, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            _scale(ax, values, budget)
            if label in _RATIO_PANELS:
                ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            if budget is not None:
                ax.axhline(
                    budget, color=_LIMIT_COLOUR, linestyle="--", linewidth=0.9, label="SLO limit"
                )
            if analysis.fault_window is not None:
                start, end = analysis.fault_window
                ax.axvspan(
                    start,
                    max(end, start + series.interval_s),
                    color=_FAULT_COLOUR,
                    alpha=0.3,
                    label="fault window",
                )
                if analysis.recovery_s is not None and analysis.breached:
                    ax.axvline(
                        start + analysis.recovery_s,
                        color=_RECOVERY_COLOUR,
                        linewidth=1.5,
                        label="recovered",
                    )
                if detect_s is not None:
                    ax.axvline(
                        start + detect_s,
                        color=_DETECT_COLOUR,
                        linestyle=":",
                        linewidth=1.5,
                        label="detected",
                    )
        axes[-1].set_xlabel("seconds since recorder start", fontsize=8)
        handles, labels = axes[-1].get_legend_handles_labels()
        if handles:
            axes[0].legend(handles, labels, fontsize=7, loc="lower left", ncol=len(labels))
        if series.samples:
            axes[-1].set_xlim(series.samples[0].t, series.samples[-1].t + series.interval_s)
        fig.suptitle(f"{title}: {_status(analysis)}", fontsize=10)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)
