"""Files of a metric benchmark: results.csv, results.json, results.tex, splits.csv, scatter plots.

No Django. Matplotlib is imported inside :func:`write_scatter_plots` only: importing it costs
start-up time that the web process and the management commands should not pay.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.benchmark.compute import ALL
from analysis.benchmark.inputs import MosTable, Predictions
from analysis.stats import metric_benchmark as mb

__all__ = [
    "CSV_COLUMNS",
    "latex_table",
    "plot_name",
    "write_all",
    "write_results_csv",
    "write_scatter_plots",
    "write_splits_csv",
]

CSV_COLUMNS = (
    "perspective",
    "metric",
    "group_by",
    "group",
    "n",
    *(f"{c}{s}" for c in mb.COLUMNS for s in ("", "_low", "_high")),
    "mapping",
    "n_splits",
)
_INJECTION_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_LATEX_SPECIAL = re.compile(r"([&%$#_{}~^\\])")
_LATEX_REPLACE = {"~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        # A spreadsheet would run a cell starting with = + - @ as a formula (CSV injection).
        return "'" + value if value.startswith(_INJECTION_PREFIXES) else value
    return value


def write_results_csv(path: Path, doc: dict[str, Any]) -> Path:
    """One row per perspective, metric and group; empty cells where there is no figure."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in doc["results"]:
            writer.writerow([_csv_cell(row.get(c)) for c in CSV_COLUMNS])
    return path


def write_splits_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """``split, position, stimulus, prompt, set``: every prompt's images on one side."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("split", "position", "stimulus", "prompt", "set"))
        for r in rows:
            writer.writerow([_csv_cell(r[c]) for c in ("split", "position", "stimulus", "prompt", "set")])
    return path


def _latex_escape(text: str) -> str:
    return _LATEX_SPECIAL.sub(lambda m: _LATEX_REPLACE.get(m.group(1), "\\" + m.group(1)), text)


def latex_table(doc: dict[str, Any]) -> str:
    """A booktabs table: one row per metric, SRCC/KRCC/PLCC/RMSE per perspective, best in bold."""
    keys, metrics = doc["perspectives"], doc["metrics"]
    overall = {(r["perspective"], r["metric"]): r for r in doc["results"] if r["group_by"] == ALL}
    head = " & ".join(rf"\multicolumn{{4}}{{c}}{{{_latex_escape(k)}}}" for k in keys)
    rules = " ".join(rf"\cmidrule(lr){{{2 + 4 * i}-{5 + 4 * i}}}" for i in range(len(keys)))
    sub = " & ".join(["SRCC & KRCC & PLCC & RMSE"] * len(keys))
    lines = [
        r"% Requires \usepackage{booktabs}. Best value per column in bold.",
        r"\begin{table}[t]",
        r"\centering",
        r"\caption{Agreement of quality metrics with the MOS"
        + (" (median over splits)" if doc.get("with_splits") else "")
        + r". PLCC and RMSE after a five-parameter logistic mapping.}",
        r"\begin{tabular}{l" + "cccc" * len(keys) + "}",
        r"\toprule",
        rf"Metric & {head} \\",
        rules,
        rf" & {sub} \\",
        r"\midrule",
    ]
    for metric in metrics:
        cells = [_latex_escape(metric)]
        for key in keys:
            row = overall.get((key, metric), {})
            for col in mb.COLUMNS:
                value = row.get(col)
                text = "--" if value is None else f"{value:.4f}"
                best = doc["best"].get(key, {}).get(col) == metric
                cells.append(rf"\textbf{{{text}}}" if best and value is not None else text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def plot_name(d: int, key: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", key).strip("-") or "perspective"
    return f"plots/scatter_{d}_{safe}.png"


def write_scatter_plots(out: Path, doc: dict[str, Any], table: MosTable, preds: Predictions) -> list[Path]:
    """One PNG per perspective: a panel per metric, predictions against MOS with the fitted curve.

    With a ``split`` column the panels show the first split's predictions (no curve).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fits = {(f["perspective"], f["metric"]): f for f in doc["fits"]}
    overall = {(r["perspective"], r["metric"]): r for r in doc["results"] if r["group_by"] == ALL}
    first_split = (
        None if preds.split is None else sorted({str(s) for s in preds.split}, key=lambda s: (len(s), s))[0]
    )
    paths = []
    n = len(preds.metrics)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    for d, key in enumerate(table.keys, start=1):
        fig = Figure(figsize=(4.2 * cols, 3.6 * rows), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        for m, name in enumerate(preds.metrics):
            ax = fig.add_subplot(rows, cols, m + 1)
            sel = (
                preds.metric == m
                if first_split is None
                else (preds.metric == m) & (preds.split == first_split)
            )
            x, y = preds.score[sel], table.mos[key][preds.stimulus[sel]]
            ok = np.isfinite(y)
            ax.scatter(x[ok], y[ok], s=14, alpha=0.7, color="#4C72B0", edgecolors="none")
            fit = fits.get((key, name))
            if fit and fit.get("kind") and ok.any():
                mapping = mb.Mapping(fit["kind"], tuple(fit["params"]), fit["x_mean"], fit["x_sd"])
                grid = np.linspace(float(x[ok].min()), float(x[ok].max()), 200)
                ax.plot(grid, mapping(grid), color="#C44E52", linewidth=2, label=fit["kind"])
                ax.legend(loc="best", fontsize=8)
            r = overall.get((key, name), {})
            srcc, plcc = r.get("srcc"), r.get("plcc")
            title = (
                f"{name}\nSRCC {srcc:.3f}, PLCC {plcc:.3f}" if srcc is not None and plcc is not None else name
            )
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("prediction", fontsize=8)
            ax.set_ylabel(f"MOS ({key})", fontsize=8)
            ax.tick_params(labelsize=7)
        path = out / plot_name(d, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
        paths.append(path)
    return paths


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_all(
    out: Path,
    doc: dict[str, Any],
    table: MosTable,
    preds: Predictions,
    splits: Sequence[dict[str, Any]],
    *,
    plots: bool = True,
) -> list[Path]:
    """Write every file of a benchmark into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_results_csv(out / "results.csv", doc)]
    json_path = out / "results.json"
    json_path.write_text(
        json.dumps(json_safe(doc), indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8"
    )
    tex_path = out / "results.tex"
    tex_path.write_text(latex_table(doc), encoding="utf-8")
    paths += [json_path, tex_path]
    if splits:
        paths.append(write_splits_csv(out / "splits.csv", splits))
    if plots:
        paths += write_scatter_plots(out, doc, table, preds)
    return paths
