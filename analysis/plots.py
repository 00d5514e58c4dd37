"""Diagnostic PNG plots of an analysis, drawn once by the job. No Django here.

One figure per kind, with one panel per perspective (so a 3-perspective study draws four
figures, not twelve): ``plots/mos_histogram.png``, ``plots/mos_ci.png``,
``plots/mos_by_model.png`` (with its numbers in ``plots/mos_by_model.csv``) and
``plots/screening.png``. Fonts are set explicitly (11-14 pt at 100 dpi), so the figures stay
readable when the results page shows them at their natural width (docs/exports.md, Plots).

No pyplot: figures are :class:`matplotlib.figure.Figure` objects on an explicit Agg canvas,
which needs no global state, so plotting is safe in worker threads and processes. matplotlib is
imported when the first plot is drawn, not when this module is imported.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.stats import AnalysisResult
from analysis.stats.screening import RATIO1_LIMIT, RATIO2_LIMIT

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "model_means",
    "plot_mos_by_model",
    "plot_mos_ci",
    "plot_mos_histogram",
    "plot_screening",
    "write_plots",
]

PathLike = str | Path
_DPI = 100
# Sizes for a figure shown about 1,000 px wide on the results page (3 panels of 4.2 in at 100 dpi).
TITLE, LABEL, TICK, NOTE = 15, 13, 12, 12
BLUE, RED, GREY = "#2F6690", "#C44E52", "#6C757D"
PANEL_WIDTH, PANEL_HEIGHT = 4.2, 3.8


def _figure(
    panels: int,
    *,
    height: float = PANEL_HEIGHT,
    width: float = PANEL_WIDTH,
    left: float = 0.95,
    bottom: float = 0.75,
    top: float = 0.85,
    gap: float | None = None,
) -> tuple[Figure, list[Axes]]:
    """A figure of ``panels`` side by side, margins in inches.

    Fixed margins instead of the constrained layout: that engine draws every figure twice to
    measure it, and drawing is most of a job's plotting time.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = max(1, panels)
    total = n * width
    fig = Figure(figsize=(total, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=left / total,
        right=1 - 0.25 / total,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=(left + 0.1 if gap is None else gap) / (width - left - 0.1),
    )
    axes = fig.subplots(1, n, squeeze=False)[0]
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.tick_params(labelsize=TICK)
        ax.grid(alpha=0.25, linewidth=0.6)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig, list(axes)


def _save(fig: Figure, path: PathLike) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def _scale_label(res: AnalysisResult) -> str:
    if res.method in ("bt500_zscore", "vote_outliers"):
        return "MOS (rescaled z-score, 0-100)"
    return "MOS (raw scale)"


def _title(ax: Axes, text: str) -> None:
    ax.set_title(text, fontsize=TITLE, loc="left")


def plot_mos_histogram(
    results: Mapping[str, AnalysisResult], labels: Mapping[str, str], path: PathLike
) -> Path:
    """Histogram of the MOS, one panel per perspective, with the mean marked."""
    fig, axes = _figure(len(results))
    for ax, (key, res) in zip(axes, results.items(), strict=False):
        mos = res.stimuli.mos[np.isfinite(res.stimuli.mos)]
        if mos.size:
            ax.hist(mos, bins=min(40, max(5, int(np.sqrt(mos.size)))), color=BLUE, edgecolor="white")
            ax.axvline(float(mos.mean()), color=RED, linestyle="--", label=f"mean {mos.mean():.2f}")
            ax.legend(frameon=False, fontsize=NOTE)
        ax.set_xlabel(_scale_label(res), fontsize=LABEL)
        ax.set_ylabel("number of stimuli", fontsize=LABEL)
        _title(ax, f"{labels.get(key, key)}: {mos.size} stimuli")
    fig.suptitle("Distribution of the MOS", fontsize=TITLE + 1)
    return _save(fig, path)


def model_means(res: AnalysisResult, models: Sequence[str], *, ci: float = 0.95) -> list[dict[str, Any]]:
    """Mean MOS per model over its stimuli, with a Student-t ``ci`` interval (n - 1 df).

    The interval is that of the mean of the model's stimulus MOS values: it describes how well
    the model's average is known from the stimuli rated, not the spread of single ratings.
    Models keep their order of first appearance.
    """
    from scipy import special

    mos = res.stimuli.mos
    model_arr = np.asarray([str(m) for m in models], dtype=object)
    rows = []
    for name in dict.fromkeys(model_arr.tolist()):
        values = mos[(model_arr == name) & np.isfinite(mos)]
        n = int(values.size)
        mean = float(values.mean()) if n else math.nan
        half = math.nan
        if n >= 2:
            half = float(special.stdtrit(n - 1, 0.5 + ci / 2.0)) * float(values.std(ddof=1)) / math.sqrt(n)
        rows.append(
            {"model": name, "n_stimuli": n, "mean": mean, "ci_low": mean - half, "ci_high": mean + half}
        )
    return rows


def plot_mos_by_model(
    results: Mapping[str, AnalysisResult],
    labels: Mapping[str, str],
    models: Sequence[str],
    path: PathLike,
    *,
    csv_path: PathLike | None = None,
) -> Path:
    """Mean MOS per generating model with its 95% CI, one panel per perspective.

    ``models[k]`` is stimulus ``k``'s model. Models are listed top to bottom by their mean in
    the first perspective (best first) in every panel, so a row is the same model throughout.
    The numbers go to ``csv_path`` when given.
    """
    per = {key: model_means(res, models) for key, res in results.items()}
    first = next(iter(per.values()))
    order = sorted(range(len(first)), key=lambda k: -first[k]["mean"] if np.isfinite(first[k]["mean"]) else 0)
    names = [f"{first[k]['model'] or '(none)'} (n={first[k]['n_stimuli']})" for k in order]
    fig, axes = _figure(len(results), height=max(3.2, 0.45 * len(names) + 1.8), left=2.2, gap=0.35)
    y = np.arange(len(names))[::-1]
    for ax, (key, rows) in zip(axes, per.items(), strict=False):
        ordered = [rows[k] for k in order]
        mean = np.array([r["mean"] for r in ordered])
        err = np.array([[r["mean"] - r["ci_low"], r["ci_high"] - r["mean"]] for r in ordered]).T
        ax.errorbar(
            mean, y, xerr=np.nan_to_num(err), fmt="o", color=BLUE, ecolor=BLUE, capsize=4, markersize=6
        )
        ax.set_yticks(y, names if ax is axes[0] else [""] * len(names), fontsize=TICK)
        ax.set_xlabel(_scale_label(results[key]), fontsize=LABEL)
        _title(ax, labels.get(key, key))
    fig.suptitle("Mean MOS per model, with 95% confidence interval over its stimuli", fontsize=TITLE + 1)
    if csv_path is not None:
        with open(csv_path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["perspective", "model", "n_stimuli", "mean", "ci_low", "ci_high"])
            for key, rows in per.items():
                for r in rows:
                    writer.writerow(
                        [key, r["model"], r["n_stimuli"]]
                        + [
                            "" if not np.isfinite(r[c]) else repr(float(r[c]))
                            for c in ("mean", "ci_low", "ci_high")
                        ]
                    )
    return _save(fig, path)


SCREENING_EXPLAINED = (
    "BT.500 rejects a rater who lands in the shaded corner: more than 5% of their scores are far from "
    "the other raters' mean (ratio1 = (P+Q)/T > 0.05) and those far scores fall as often above as below "
    "(ratio2 = |P-Q|/(P+Q) < 0.3), as random answers do. A rater far off in one direction only "
    "(ratio2 near 1) is biased, not random, and is kept; z-scoring removes a constant bias."
)


def plot_screening(
    results: Mapping[str, AnalysisResult],
    labels: Mapping[str, str],
    path: PathLike,
    *,
    checks: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """BT.500 screening per rater: ratio1 against ratio2, rejection region shaded and explained.

    Raters with P+Q = 0 have no ratio2 and are drawn at ratio2 = 1 (never rejected). When the
    method does not screen, or the design leaves screening powerless (``checks``), the panel
    says so.
    """
    # About 10 characters of 12 pt text per inch of figure width, 0.22 inch per line.
    chars = int(10 * PANEL_WIDTH * max(1, len(results))) - 6
    explained = _wrap(SCREENING_EXPLAINED, chars)
    text_height = 0.22 * (explained.count("\n") + 1) + 0.2
    fig, axes = _figure(len(results), height=PANEL_HEIGHT + text_height, bottom=0.75 + text_height)
    for ax, (key, res) in zip(axes, results.items(), strict=False):
        rs = res.raters
        has = rs.n > 0
        r1 = rs.ratio1[has]
        r2 = np.where(np.isnan(rs.ratio2[has]), 1.0, rs.ratio2[has])
        rej = (rs.reason[has] == "screening") if rs.reason.size else np.zeros(0, dtype=bool)
        xmax = max(0.2, float(np.nanmax(r1)) * 1.1) if r1.size and np.isfinite(r1).any() else 0.2
        ax.fill_between(
            [RATIO1_LIMIT, xmax],
            -0.03,
            RATIO2_LIMIT,
            color=RED,
            alpha=0.12,
            linewidth=0,
            label="rejection region",
        )
        ax.axvline(RATIO1_LIMIT, color=GREY, linestyle="--", linewidth=1)
        ax.axhline(RATIO2_LIMIT, color=GREY, linestyle="--", linewidth=1)
        ax.scatter(r1[~rej], r2[~rej], s=18, color=BLUE, alpha=0.8, label=f"kept ({int((~rej).sum())})")
        ax.scatter(r1[rej], r2[rej], s=40, marker="x", color=RED, label=f"rejected ({int(rej.sum())})")
        ax.set_xlim(0, xmax)
        ax.set_ylim(-0.03, 1.05)
        ax.set_xlabel("ratio1 = (P+Q)/T: share far off", fontsize=LABEL)
        ax.set_ylabel("ratio2 = |P-Q|/(P+Q): one-sidedness", fontsize=LABEL)
        ax.legend(frameon=False, loc="upper right", fontsize=NOTE)
        _title(ax, labels.get(key, key))
        note = _screening_note(res, (checks or {}).get(key))
        if note:
            ax.text(
                0.02,
                0.04,
                note,
                transform=ax.transAxes,
                fontsize=NOTE - 1,
                color=RED,
                wrap=True,
                va="bottom",
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": RED},
            )
    fig.suptitle("Rater screening (ITU-R BT.500-13, Annex 2, 2.3.1)", fontsize=TITLE + 1)
    fig.text(
        0.01,
        0.01,
        explained,
        fontsize=NOTE,
        va="bottom",
        ha="left",
        color="#333333",
    )
    return _save(fig, path)


def _screening_note(res: AnalysisResult, check: Mapping[str, Any] | None) -> str:
    if res.method != "bt500_zscore" or not res.params.get("screen", True):
        return _wrap("This method rejects nobody by screening; the counts are shown for information.", 38)
    if check and not check.get("possible", True):
        median = check.get("ratings_per_stimulus", {}).get("median", 0)
        return _wrap(
            f"Screening cannot work here: a median of {median:g} ratings per stimulus "
            f"(it needs {check.get('min_ratings_needed', 6)} or more). Consider method 'mle'.",
            38,
        )
    return ""


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def plot_mos_ci(results: Mapping[str, AnalysisResult], labels: Mapping[str, str], path: PathLike) -> Path:
    """MOS of every stimulus sorted ascending, with its confidence interval as a band."""
    fig, axes = _figure(len(results))
    for ax, (key, res) in zip(axes, results.items(), strict=False):
        st = res.stimuli
        ok = np.isfinite(st.mos)
        order = np.argsort(st.mos[ok], kind="stable")
        mos, lo, hi = st.mos[ok][order], st.ci_low[ok][order], st.ci_high[ok][order]
        x = np.arange(mos.size)
        ci = float(res.params.get("ci", 0.95))
        ax.fill_between(x, lo, hi, color=BLUE, alpha=0.25, linewidth=0, label=f"{ci:.0%} CI")
        ax.plot(x, mos, color=BLUE, linewidth=1.4, label="MOS")
        ax.set_xlabel("stimuli, sorted by MOS", fontsize=LABEL)
        ax.set_ylabel(_scale_label(res), fontsize=LABEL)
        ax.legend(frameon=False, loc="upper left", fontsize=NOTE)
        _title(ax, f"{labels.get(key, key)}: {mos.size} stimuli")
    fig.suptitle("MOS of each stimulus with its confidence interval", fontsize=TITLE + 1)
    return _save(fig, path)


def write_plots(
    out_dir: PathLike,
    results: Mapping[str, AnalysisResult],
    perspectives: Sequence[str],
    stimuli: Sequence[Mapping[str, Any]] | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    checks: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Path]:
    """Write every plot into ``out_dir/plots``; return the paths (PNGs, and mos_by_model.csv).

    The per-model plot needs ``stimuli`` with a ``model`` entry (aligned with the stimulus
    index) and is skipped otherwise. ``labels`` names the perspectives in titles; ``checks``
    are the pipeline's screening checks per perspective.
    """
    out = Path(out_dir) / "plots"
    ordered = {key: results[key] for key in perspectives}
    names = dict(labels or {})
    paths = [
        plot_mos_histogram(ordered, names, out / "mos_histogram.png"),
        plot_mos_ci(ordered, names, out / "mos_ci.png"),
    ]
    models = [str(s.get("model", "")) for s in stimuli] if stimuli else []
    if models and any(models):
        csv_path = out / "mos_by_model.csv"
        paths.append(plot_mos_by_model(ordered, names, models, out / "mos_by_model.png", csv_path=csv_path))
        paths.append(csv_path)
    paths.append(plot_screening(ordered, names, out / "screening.png", checks=checks))
    return paths
