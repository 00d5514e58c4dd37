"""Benchmark metrics against a run's MOS: validated inputs -> one JSON-able result document.

The maths is :mod:`analysis.stats.metric_benchmark`; this module loops over perspectives,
metrics, groups (generative model, prompt categories) and splits, and lays the figures out.
No Django, no I/O.

Without a ``split`` column, each metric's figures are computed on every stimulus with a MOS
in the perspective, with bootstrap CIs (``n_boot`` resamples, ``seed``) shared by all metrics of
the perspective, and every pair of metrics is compared by the paired bootstrap test of SRCC.
With a ``split`` column, figures are computed per split and the **median over splits** is
reported (the CI fields hold the smallest and largest split value; no bootstrap, no test).
Groups get point figures (or split medians) only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analysis.benchmark.inputs import MosTable, Predictions
from analysis.stats import metric_benchmark as mb

__all__ = ["FORMAT", "Options", "benchmark", "splits_rows"]

FORMAT = "metric-benchmark-1"
ALL = "all"


@dataclass(frozen=True)
class Options:
    """Parameters of a benchmark; all of them are recorded in the result."""

    n_boot: int = 1000
    seed: int = 0
    level: float = 0.95
    refit_bootstrap: bool = False
    n_splits: int = 10
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not 0 <= self.n_boot <= 100_000:
            raise ValueError(f"n_boot must lie in 0..100000; got {self.n_boot}")
        if not 0.5 <= self.level < 1:
            raise ValueError(f"level must lie in [0.5, 1); got {self.level}")
        if not 1 <= self.n_splits <= 1000:
            raise ValueError(f"n_splits must lie in 1..1000; got {self.n_splits}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must lie strictly between 0 and 1; got {self.test_fraction}")


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _mapping_dict(m: mb.Mapping | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {"kind": m.kind, "params": list(m.params), "x_mean": m.x_mean, "x_sd": m.x_sd, "note": m.note}


def _row(key: str, metric: str, group_by: str, group: str, f: mb.Figures, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "perspective": key,
        "metric": metric,
        "group_by": group_by,
        "group": group,
        "n": f.n,
    }
    for col in mb.COLUMNS:
        row[col] = _num(f.value(col))
        row[f"{col}_low"] = None
        row[f"{col}_high"] = None
    row["mapping"] = f.mapping.kind if f.mapping else None
    row.update(extra)
    return row


def _series(
    preds: Predictions, m: int, key_mos: np.ndarray, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictions x, MOS y and stimulus indices of metric ``m`` (restricted to ``rows``), MOS finite."""
    sel = preds.metric == m if rows is None else rows & (preds.metric == m)
    stim = preds.stimulus[sel]
    x = preds.score[sel]
    y = key_mos[stim]
    ok = np.isfinite(y)
    return x[ok], y[ok], stim[ok]


def _group_figures(
    x: np.ndarray, y: np.ndarray, stim: np.ndarray, labels: tuple[str, ...]
) -> dict[str, mb.Figures]:
    lab = np.asarray(labels, dtype=object)[stim]
    out = {}
    for value in sorted({str(v) for v in lab if v}):
        sel = lab == value
        out[value] = mb.figures(x[sel], y[sel])
    return out


def _median_figures(per_split: list[mb.Figures]) -> tuple[mb.Figures, dict[str, tuple[float, float]]]:
    cols = {c: np.array([f.value(c) for f in per_split]) for c in mb.COLUMNS}
    med = {c: float(np.nanmedian(v)) if np.isfinite(v).any() else math.nan for c, v in cols.items()}
    rng = {
        c: (float(np.nanmin(v)), float(np.nanmax(v))) if np.isfinite(v).any() else (math.nan, math.nan)
        for c, v in cols.items()
    }
    n = int(np.median([f.n for f in per_split]))
    return mb.Figures(n, med["srcc"], med["krcc"], med["plcc"], med["rmse"], None), rng


def _perspective_plain(
    key: str, table: MosTable, preds: Predictions, opts: Options, doc: dict[str, Any]
) -> None:
    mos = table.mos[key]
    rated = np.flatnonzero(np.isfinite(mos))
    idx = (
        mb.resample_indices(rated.size, n_boot=opts.n_boot, rng=np.random.default_rng(opts.seed))
        if opts.n_boot
        else None
    )
    boots: dict[str, mb.Bootstrap] = {}
    point: dict[str, mb.Figures] = {}
    for m, name in enumerate(preds.metrics):
        x, y, stim = _series(preds, m, mos)
        # One order for all metrics (stimulus order), so that a resample means the same
        # stimuli for every metric: the comparisons are paired.
        order = np.argsort(stim, kind="stable")
        x, y, stim = x[order], y[order], stim[order]
        f = mb.figures(x, y)
        point[name] = f
        row = _row(key, name, ALL, "", f)
        if idx is not None and f.mapping is not None and x.size == rated.size:
            b = mb.bootstrap(x, y, idx, mapping=f.mapping, refit=opts.refit_bootstrap, level=opts.level)
            boots[name] = b
            for col in mb.COLUMNS:
                row[f"{col}_low"], row[f"{col}_high"] = (_num(v) for v in b.ci[col])
        doc["results"].append(row)
        doc["fits"].append(
            {"perspective": key, "metric": name, **(_mapping_dict(f.mapping) or {"kind": None})}
        )
        for group_by, labels in table.groups.items():
            for value, gf in _group_figures(x, y, stim, labels).items():
                doc["results"].append(_row(key, name, group_by, value, gf))
        notes = f.mapping.note if f.mapping else ""
        if notes:
            doc["notes"].append(f"{key} / {name}: {notes}")
    names = list(boots)
    for i, a in enumerate(names):
        for other in names[i + 1 :]:
            c = mb.compare(
                point[a].srcc,
                point[other].srcc,
                boots[a].values["srcc"],
                boots[other].values["srcc"],
                level=opts.level,
            )
            doc["comparisons"].append(
                {
                    "perspective": key,
                    "a": a,
                    "b": other,
                    **{k: _num(v) if isinstance(v, float) else v for k, v in asdict(c).items()},
                }
            )


def _perspective_splits(key: str, table: MosTable, preds: Predictions, doc: dict[str, Any]) -> None:
    assert preds.split is not None
    mos = table.mos[key]
    splits = sorted({str(s) for s in preds.split}, key=lambda s: (len(s), s))
    for m, name in enumerate(preds.metrics):
        per_split: list[mb.Figures] = []
        per_group: dict[tuple[str, str], list[mb.Figures]] = {}
        for s in splits:
            x, y, stim = _series(preds, m, mos, rows=preds.split == s)
            if x.size == 0:
                continue
            per_split.append(mb.figures(x, y))
            for group_by, labels in table.groups.items():
                for value, gf in _group_figures(x, y, stim, labels).items():
                    per_group.setdefault((group_by, value), []).append(gf)
        if not per_split:
            continue
        med, rng = _median_figures(per_split)
        row = _row(key, name, ALL, "", med, n_splits=len(per_split))
        for col in mb.COLUMNS:
            row[f"{col}_low"], row[f"{col}_high"] = (_num(v) for v in rng[col])
        doc["results"].append(row)
        for (group_by, value), figs in per_group.items():
            gmed, _ = _median_figures(figs)
            doc["results"].append(_row(key, name, group_by, value, gmed, n_splits=len(figs)))


def _best(doc: dict[str, Any], keys: tuple[str, ...]) -> dict[str, dict[str, str | None]]:
    best: dict[str, dict[str, str | None]] = {}
    for key in keys:
        rows = [r for r in doc["results"] if r["perspective"] == key and r["group_by"] == ALL]
        best[key] = {}
        for col in mb.COLUMNS:
            k = mb.best_index([math.nan if r[col] is None else r[col] for r in rows], col)
            best[key][col] = rows[k]["metric"] if k is not None else None
    return best


def benchmark(table: MosTable, preds: Predictions, opts: Options | None = None) -> dict[str, Any]:
    """Every figure of every metric, perspective and group, as a JSON-able document."""
    opts = opts or Options()
    with_splits = preds.split is not None
    doc: dict[str, Any] = {
        "format": FORMAT,
        "method": mb.NAME,
        "version": mb.VERSION,
        "parameters": {
            **asdict(opts),
            "mapping": "logistic5",
            "significance_test": "paired bootstrap of |SRCC_a| - |SRCC_b|, two-sided",
            "alpha": mb.ALPHA,
            "ci": "median and range over splits" if with_splits else f"bootstrap percentile {opts.level:.0%}",
        },
        "perspectives": list(table.keys),
        "metrics": list(preds.metrics),
        "stimulus_column": preds.by,
        "with_splits": with_splits,
        "group_by": list(table.groups),
        "results": [],
        "fits": [],
        "comparisons": [],
        "notes": [],
    }
    for key in table.keys:
        if with_splits:
            _perspective_splits(key, table, preds, doc)
        else:
            _perspective_plain(key, table, preds, opts, doc)
    if with_splits:
        doc["notes"].append(
            "Figures are medians over the splits; CI columns hold the smallest and largest split value."
        )
    doc["best"] = _best(doc, table.keys)
    return doc


def splits_rows(
    table: MosTable, *, n_splits: int = 10, test_fraction: float = 0.2, seed: int = 0
) -> list[dict[str, Any]]:
    """Prompt-grouped train/test splits, one row per split and stimulus (``set`` = train/test).

    Stimuli without a prompt form their own group.
    """
    labels = [p or f"\x00{k}" for k, p in enumerate(table.prompts)]
    _, codes = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    test = mb.prompt_splits(
        codes, n_splits=n_splits, test_fraction=test_fraction, rng=np.random.default_rng(seed)
    )
    return [
        {
            "split": s,
            "position": table.positions[k],
            "stimulus": table.names[k],
            "prompt": table.prompts[k],
            "set": "test" if test[s, k] else "train",
        }
        for s in range(n_splits)
        for k in range(table.n)
    ]
