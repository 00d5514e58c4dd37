"""Diagnostic PNG plots of an analysis. Matplotlib's object API with the Agg canvas only.

No pyplot: figures are built with :class:`matplotlib.figure.Figure` attached to an explicit
Agg canvas (so the process-wide backend is neither needed nor changed), which needs no global
state, so plotting is safe in worker threads and processes. No Django here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.stats import AnalysisResult
from analysis.stats.screening import RATIO1_LIMIT, RATIO2_LIMIT

__all__ = [
    "plot_mos_by_model",
    "plot_mos_ci",
    "plot_mos_histogram",
    "plot_screening",
    "write_plots",
]

PathLike = str | Path
_DPI = 120


def _figure(width: float = 7.0, height: float = 4.5) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: PathLike) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def _scale_label(res: AnalysisResult) -> str:
    if res.method in ("bt500_zscore", "vote_outliers"):
        return "MOS (rescaled z-score, 0-100)"
    return "MOS (raw scale)"


def plot_mos_histogram(res: AnalysisResult, key: str, path: PathLike) -> Path:
    """Histogram of the MOS of one perspective, with the mean marked."""
    mos = res.stimuli.mos[np.isfinite(res.stimuli.mos)]
    fig = _figure()
    ax = fig.add_subplot()
    if mos.size:
        ax.hist(mos, bins=min(40, max(5, int(np.sqrt(mos.size)))), color="#4C72B0", edgecolor="white")
        ax.axvline(float(mos.mean()), color="#C44E52", linestyle="--", label=f"mean {mos.mean():.2f}")
        ax.legend(frameon=False)
    ax.set_xlabel(_scale_label(res))
    ax.set_ylabel("stimuli")
    ax.set_title(f"{key}: distribution of MOS ({mos.size} stimuli, {res.method})")
    return _save(fig, path)


def plot_mos_by_model(res: AnalysisResult, key: str, models: Sequence[str], path: PathLike) -> Path:
    """Box plot of the MOS per generating model (``models[k]`` is stimulus ``k``'s model)."""
    mos = res.stimuli.mos
    labels = list(dict.fromkeys(str(m) for m in models))
    model_arr = np.asarray([str(m) for m in models], dtype=object)
    groups = [mos[(model_arr == m) & np.isfinite(mos)] for m in labels]
    fig = _figure(max(6.0, 1.1 * len(labels) + 2), 4.5)
    ax = fig.add_subplot()
    if labels:
        ax.boxplot(groups, tick_labels=labels, showmeans=True)
        rng = np.random.default_rng(0)  # fixed jitter so that the plot is reproducible
        for k, g in enumerate(groups, start=1):
            ax.scatter(k + rng.uniform(-0.18, 0.18, g.size), g, s=4, alpha=0.25, color="#4C72B0")
        ax.tick_params(axis="x", labelrotation=20)
    ax.set_xlabel("model")
    ax.set_ylabel(_scale_label(res))
    ax.set_title(f"{key}: MOS per model")
    return _save(fig, path)


def plot_screening(res: AnalysisResult, key: str, path: PathLike) -> Path:
    """BT.500 screening: ratio1 = (P+Q)/T against ratio2 = |P-Q|/(P+Q), per rater.

    The rejection region (ratio1 > 0.05 and ratio2 < 0.3) is shaded; rejected raters are red
    crosses. Raters with P+Q = 0 have no ratio2 and are drawn at ratio2 = 1 (never rejected).
    """
    rs = res.raters
    has = rs.n > 0
    r1 = rs.ratio1[has]
    r2 = np.where(np.isnan(rs.ratio2[has]), 1.0, rs.ratio2[has])
    rej = rs.rejected[has]
    fig = _figure()
    ax = fig.add_subplot()
    xmax = max(0.2, float(np.nanmax(r1)) * 1.1) if r1.size else 0.2
    ax.fill_between(
        [RATIO1_LIMIT, xmax],
        -0.03,
        RATIO2_LIMIT,
        color="#C44E52",
        alpha=0.08,
        linewidth=0,
        label="rejection region",
    )
    ax.axvline(RATIO1_LIMIT, color="grey", linestyle="--", linewidth=1)
    ax.axhline(RATIO2_LIMIT, color="grey", linestyle="--", linewidth=1)
    ax.scatter(r1[~rej], r2[~rej], s=16, color="#4C72B0", label=f"kept ({int((~rej).sum())})")
    ax.scatter(r1[rej], r2[rej], s=30, marker="x", color="#C44E52", label=f"rejected ({int(rej.sum())})")
    ax.set_xlim(0, xmax)
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel("ratio1 = (P + Q) / T   (reject if > 0.05)")
    ax.set_ylabel("ratio2 = |P - Q| / (P + Q)   (reject if < 0.3)")
    ax.set_title(f"{key}: BT.500 rater screening")
    ax.legend(frameon=False, loc="upper right")
    return _save(fig, path)


def plot_mos_ci(res: AnalysisResult, key: str, path: PathLike) -> Path:
    """MOS of every stimulus sorted ascending, with its confidence interval as a band."""
    st = res.stimuli
    ok = np.isfinite(st.mos)
    order = np.argsort(st.mos[ok], kind="stable")
    mos, lo, hi = st.mos[ok][order], st.ci_low[ok][order], st.ci_high[ok][order]
    x = np.arange(mos.size)
    fig = _figure(8.0, 4.5)
    ax = fig.add_subplot()
    ci = float(res.params.get("ci", 0.95))
    ax.fill_between(x, lo, hi, color="#4C72B0", alpha=0.25, linewidth=0, label=f"{ci:.0%} CI")
    ax.plot(x, mos, color="#4C72B0", linewidth=1.2, label="MOS")
    ax.set_xlabel("stimuli, sorted by MOS")
    ax.set_ylabel(_scale_label(res))
    ax.set_title(f"{key}: MOS with confidence interval ({mos.size} stimuli)")
    ax.legend(frameon=False, loc="upper left")
    return _save(fig, path)


def write_plots(
    out_dir: PathLike,
    results: Mapping[str, AnalysisResult],
    perspectives: Sequence[str],
    stimuli: Sequence[Mapping[str, Any]] | None = None,
) -> list[Path]:
    """Write every plot of every perspective into ``out_dir/plots``; return the paths.

    The per-model plot needs ``stimuli`` with a ``model`` entry (aligned with the stimulus
    index) and is skipped otherwise.
    """
    out = Path(out_dir) / "plots"
    paths: list[Path] = []
    models = [str(s.get("model", "")) for s in stimuli] if stimuli else []
    for d, key in enumerate(perspectives, start=1):
        res = results[key]
        stem = f"{d}_{re.sub(r'[^A-Za-z0-9_-]+', '_', key)}"
        paths.append(plot_mos_histogram(res, key, out / f"{stem}_mos_histogram.png"))
        if models and any(models):
            paths.append(plot_mos_by_model(res, key, models, out / f"{stem}_mos_by_model.png"))
        paths.append(plot_screening(res, key, out / f"{stem}_screening.png"))
        paths.append(plot_mos_ci(res, key, out / f"{stem}_mos_ci.png"))
    return paths
