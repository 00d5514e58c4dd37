"""A planted benchmark: simulated ratings -> the real analysis -> the real mos.csv writer, and fake
metrics that are noisy monotonic transforms of the MOS (the least noisy must rank first)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

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
