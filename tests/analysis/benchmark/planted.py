"""A planted benchmark: simulated ratings -> the real analysis -> the real mos.csv writer, and fake
metrics that are noisy monotonic transforms of the MOS (the least noisy must rank first)."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
from scipy import optimize, stats

from analysis import exports
from analysis.stats import Ratings, analyse

MODELS = ("Controlnet", "DALLE", "Glide", "Lafite")
PROMPTS = 12
IMAGES = 3
KEYS = ("quality", "authenticity")
# name -> (transform of the MOS, noise SD in MOS units): the order is the planted ranking.
METRICS = {
    # Curved enough over the MOS range (about 25-75) that the logistic has a clear optimum.
    "sharp": (lambda m: (m - 50.0) / 12 + 0.5 * ((m - 50.0) / 12) ** 3, 0.5),
    "fair": (lambda m: np.sinh((m - 50.0) / 10), 3.0),
    "niqe_like": (lambda m: -((m - 50.0) / 12 + 0.3 * ((m - 50.0) / 12) ** 3), 7.0),  # lower is better
    "rough": (lambda m: ((m - 50.0) / 12) ** 3, 14.0),
}


def stimuli() -> list[dict]:
    out = []
    for model in MODELS:
        for p in range(PROMPTS):
            for _ in range(IMAGES):
                n = len(out)
                out.append(
                    {
                        "position": n,
                        "name": f"{n}.png",
                        "file": f"{n}.png",
                        "model": model,
                        "prompt": f"prompt number {p}",
                        "categories": {"challenge": ["Basic", "Complex"][p % 2], "scene": f"scene-{p % 3}"},
                    }
                )
    return out


def write_run_folder(out: Path, seed: int = 0, raters: int = 15) -> Path:
    """An exported run folder (mos.csv, analysis.json, ...) written by the app's own exports."""
    rng = np.random.default_rng(seed)
    meta = stimuli()
    n = len(meta)
    results = {}
    truth = rng.uniform(1.3, 4.7, n)  # shared: every perspective follows the same planted quality
    for d, key in enumerate(KEYS):
        rater = np.repeat(np.arange(raters), n)
        stim = np.tile(np.arange(n), raters)
        score = np.clip(np.round(truth[stim] + rng.normal(0, 0.6, stim.size) + 0.1 * d), 1, 5)
        r = Ratings.from_arrays(rater=rater, stimulus=stim, score=score, n_raters=raters, n_stimuli=n)
        results[key] = analyse(r, "bt500_zscore")
    exports.write_results(
        out,
        results=results,
        perspectives=list(KEYS),
        stimuli=meta,
        rater_ids=[f"r{i}" for i in range(raters)],
        code_version="test",
        input_fingerprint="test",
        timings={},
    )
    return out


def mos_of(folder: Path, key: str) -> np.ndarray:
    with (folder / "mos.csv").open(encoding="utf-8") as fh:
        return np.array([float(row[f"{key}_mos"]) for row in csv.DictReader(fh)])


def write_predictions(
    folder: Path, path: Path, *, seed: int = 1, by: str = "name", key: str = "quality"
) -> Path:
    """Predictions of the planted metrics for every stimulus of the run folder."""
    rng = np.random.default_rng(seed)
    mos = mos_of(folder, key)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["stimulus", "metric", "score"])
        for name, (f, noise) in METRICS.items():
            scores = f(mos + rng.normal(0, noise, mos.size))
            for j, s in enumerate(scores):
                w.writerow([f"{j}.png" if by == "name" else j, name, repr(float(s))])
    return path


def independent_fit(x, y):
    """curve_fit on the raw predictions from textbook starts (not the module's), best of them."""

    def l5(x, b1, b2, b3, b4, b5):
        return b1 * (0.5 - 1 / (1 + np.exp(b2 * (x - b3)))) + b4 * x + b5

    slope = np.sign(stats.pearsonr(x, y).statistic) / np.std(x)
    best = None
    for b1, b2 in ((np.ptp(y), slope), (np.max(y), 3 * slope), (2 * np.ptp(y), slope / 3)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p, _ = optimize.curve_fit(
                    l5, x, y, p0=[b1, b2, np.mean(x), 0.0, np.mean(y)], maxfev=100_000, ftol=1e-15, xtol=1e-15
                )
        except RuntimeError:
            continue
        fitted = l5(x, *p)
        if best is None or np.sum((fitted - y) ** 2) < np.sum((best - y) ** 2):
            best = fitted
    return best
