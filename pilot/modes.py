"""The pilot's allocation comparison: the whole study simulated in balanced and in precision mode.

Both runs use the same simulated raters (the pilot's population, its seed, in the same order: the
i-th session of one mode is the i-th rater of the other) and the same planted truth as the HTTP
pilot (`pilot.simulator`: `planted_truth`, `planted_difficulty`, `rater_scores`). Sessions are
served by the app's own allocation rules, in process instead of over HTTP so that a whole study
fits in a worker job:

* precision: `ratings.precision.order`, the very function `ratings.allocation.precision_pick`
  calls when a session starts (with the study's minimum, maximum and per-perspective targets);
* balanced: the rule of `ratings.allocation.balanced_claim` (lowest load first, random among
  equals), with the precision maximum as the cap so that it can reach the same accuracy.

Sessions start `CONCURRENCY` at a time (their assignments count before they answer, as live
sessions do in the app); raters who abandon answer part of their trials and the rest is released.
BT.500 screening (`analysis.stats`) re-runs every `SCREEN_EVERY` sessions and the excluded raters'
ratings leave the counts, as the periodic screening and the recount do.

Precision runs first, until its allocation has nothing left to give (the study is complete) or
the 95th percentile of the images' plain 95% interval half-widths (valid ratings, Student t)
meets the target in every perspective. Balanced then runs until its 95th percentile is as narrow
as the one precision reached (the target, or wider when precision completed short of it: images
retire on the allocation's shrunk variance, which can differ from the plain one), so that the two
are compared at the same accuracy; or until it completes, or at `MAX_ANSWERS`. Then the MOS (the
app's default method) of each is compared with the planted truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.stats import DEFAULT_METHOD, Ratings, analyse
from analysis.stats.recovery import recovery
from pilot import simulator
from ratings import precision

BALANCED, PRECISION = "balanced", "precision"
MODES = (BALANCED, PRECISION)
CONCURRENCY = 8
SCREEN_EVERY = 40  # sessions between two screenings while the study fills
MAX_ANSWERS = 60_000  # per mode: a bound on the worker's time (about 0.1 ms per answer)
DEFAULT_TARGET_SHARE = 0.1  # of the scale range, for a perspective without a target half-width
TARGET_MET, COMPLETE, CAPPED = "target_met", "complete", "capped"


@dataclass(frozen=True)
class Design:
    """What the simulated study looks like: the study's own test stimuli, perspectives and scale."""

    stimulus_ids: tuple[int, ...]
    keys: tuple[str, ...]
    scale: simulator.Scale
    per_session: int
    target: precision.Target


@dataclass
class Run:
    """The ratings of one simulated mode, long format (one row per answer)."""

    rater: list[int] = field(default_factory=list)
    stimulus: list[int] = field(default_factory=list)  # index into Design.stimulus_ids
    scores: list[list[float]] = field(default_factory=list)  # one value per perspective
    sessions: int = 0
    rejected: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        width = len(self.scores[0]) if self.scores else 0
        return (
            np.asarray(self.rater, dtype=np.intp),
            np.asarray(self.stimulus, dtype=np.intp),
            np.asarray(self.scores, dtype=np.float64).reshape(-1, width),
        )


def target_for(
    half_widths: list[float | None], scale: simulator.Scale, minimum: int, maximum: int
) -> tuple[precision.Target, bool]:
    """The study's precision target; perspectives without one get DEFAULT_TARGET_SHARE of the
    scale range. Returns (target, whether a default was used)."""
    fallback = round(DEFAULT_TARGET_SHARE * (scale.max - scale.min), 3)
    widths = tuple(float(h) if h and h > 0 else fallback for h in half_widths)
    used_default = any(not (h and h > 0) for h in half_widths)
    return precision.Target(half_width=widths, minimum=max(minimum, 2), maximum=max(maximum, minimum, 2)), (
        used_default
    )


def compare(design: Design, population: simulator.Population) -> dict[str, Any]:
    """Simulate the study in both modes with the same raters; the figures of each and the saving."""
    sessions_cap = math.ceil(MAX_ANSWERS / max(design.per_session, 1)) + CONCURRENCY
    raters = simulator.population_plan(sessions_cap, population)
    truth = np.asarray(
        [
            [simulator.planted_truth(population.seed, sid, key, design.scale) for key in design.keys]
            for sid in design.stimulus_ids
        ]
    )
    target = np.asarray(design.target.half_width)
    precise = _simulate(PRECISION, design, raters, population, truth, target)
    matched = np.maximum(target, [k["p95"] for k in precise["perspectives"]])
    balanced = _simulate(BALANCED, design, raters, population, truth, matched)
    modes = {BALANCED: balanced, PRECISION: precise}
    b, p = balanced["valid"], precise["valid"]
    return {
        "images": len(design.stimulus_ids),
        "perspectives": list(design.keys),
        "per_session": design.per_session,
        "target_half_width": list(design.target.half_width),
        "minimum": design.target.minimum,
        "maximum": design.target.maximum,
        "difficulty": population.difficulty,
        "matched_p95": [float(h) for h in matched],
        "method": DEFAULT_METHOD,
        "modes": modes,
        "saving": (1 - p / b) if b else None,
        "saving_percent": round(100 * (1 - p / b), 1) if b else None,
        "ratings_saved": b - p,
    }


def _simulate(
    mode: str,
    design: Design,
    raters: list[simulator.Rater],
    population: simulator.Population,
    truth: np.ndarray,
    stop_at: np.ndarray,
) -> dict[str, Any]:
    """One mode, until the p95 half-width reaches `stop_at` in every perspective (or the end)."""
    n_images, n_keys = len(design.stimulus_ids), len(design.keys)
    run = Run()
    rng = np.random.default_rng([population.seed, MODES.index(mode)])
    trace: list[list[float]] = []
    stopped = CAPPED
    while len(run.rater) < MAX_ANSWERS and run.sessions + CONCURRENCY <= len(raters):
        sums = _valid_sums(run, n_images, n_keys)
        p95 = _p95(sums)
        trace.append([float(sums.n[:, 0].sum()), float(p95.max())])
        if np.all(p95 <= stop_at):
            # Screen before stopping, as the final figures do: the stop must hold on them.
            run.rejected = _screened(run, n_images, n_keys)
            if np.all(_p95(_valid_sums(run, n_images, n_keys)) <= stop_at):
                stopped = TARGET_MET
                break
        batch = _assign(mode, design, sums, rng)
        if not batch:
            stopped = COMPLETE
            break
        for chosen in batch:
            _answer(run, design, raters[run.sessions], population, chosen)
            run.sessions += 1
            if run.sessions % SCREEN_EVERY == 0:
                run.rejected = _screened(run, n_images, n_keys)
    run.rejected = _screened(run, n_images, n_keys)
    return _figures(mode, run, design, truth, trace, stopped)


def _valid_sums(run: Run, n_images: int, n_keys: int) -> precision.Sums:
    if not run.rater:
        return precision.Sums.of_ratings(np.zeros(0, np.intp), np.zeros((0, n_keys)), n_images)
    r, s, x = run.arrays()
    known = np.zeros(run.sessions, dtype=bool)
    known[: run.rejected.size] = run.rejected
    keep = ~known[r]
    return precision.Sums.of_ratings(s[keep], x[keep], n_images)


def _p95(sums: precision.Sums) -> np.ndarray:
    """Per perspective: the 95th percentile of the images' plain 95% half-widths (inf: unknown)."""
    return np.percentile(np.minimum(precision.half_widths(sums), 1e9), 95, axis=0)


def _assign(mode: str, design: Design, sums: precision.Sums, rng: np.random.Generator) -> list[np.ndarray]:
    """The stimuli of the next CONCURRENCY sessions; each assignment counts at once (live load)."""
    load = sums.n[:, 0].copy()
    target = design.target
    batch = []
    for _session in range(CONCURRENCY):
        if mode == PRECISION:
            ranked = precision.order(sums, load, target, rng)
        else:
            # ratings.allocation.balanced_claim: ORDER BY load, shuffle among loads below the cap
            tie = rng.random(load.size)
            ranked = np.lexsort((tie, load))
            ranked = ranked[load[ranked] < target.maximum]
        chosen = ranked[: design.per_session]
        if chosen.size == 0:
            break
        load[chosen] += 1
        batch.append(chosen)
    return batch


def _answer(
    run: Run, design: Design, rater: simulator.Rater, population: simulator.Population, chosen: np.ndarray
) -> None:
    answered = chosen.size
    if rater.abandon_after is not None:  # leaves part-way; the rest of the session is released
        answered = math.floor(rater.abandon_after * chosen.size)
    for index in chosen[:answered]:
        trial = {"stimulus": design.stimulus_ids[index], "kind": "test"}
        scores = simulator.rater_scores(
            rater, trial, list(design.keys), design.scale, population.seed, population.difficulty
        )
        run.rater.append(run.sessions)
        run.stimulus.append(int(index))
        run.scores.append([scores[key] for key in design.keys])


def _screened(run: Run, n_images: int, n_keys: int) -> np.ndarray:
    """Raters rejected by BT.500 in any perspective (the app excludes a participant as a whole)."""
    out = np.zeros(run.sessions, dtype=bool)
    if not run.rater:
        return out
    r, s, x = run.arrays()
    for p in range(n_keys):
        ratings = Ratings.from_arrays(r, s, x[:, p], n_raters=run.sessions, n_stimuli=n_images)
        out |= np.asarray(analyse(ratings, "bt500_zscore").raters.rejected, dtype=bool)
    return out


def _figures(
    mode: str, run: Run, design: Design, truth: np.ndarray, trace: list[list[float]], stopped: str
) -> dict[str, Any]:
    n_images, n_keys = len(design.stimulus_ids), len(design.keys)
    sums = _valid_sums(run, n_images, n_keys)
    p95 = _p95(sums)
    trace.append([float(sums.n[:, 0].sum()), float(p95.max())])
    r, s, x = run.arrays()
    per_key = []
    for p, key in enumerate(design.keys):
        if r.size:
            ratings = Ratings.from_arrays(r, s, x[:, p], n_raters=run.sessions, n_stimuli=n_images)
            mos = analyse(ratings, DEFAULT_METHOD).stimuli.mos
        else:
            mos = np.full(n_images, np.nan)
        rec = recovery(truth[:, p], mos)
        per_key.append({"key": key, "pearson": rec.pearson, "rmse": rec.rmse, "p95": float(p95[p])})
    counts = sums.n[:, 0]
    return {
        "mode": mode,
        "valid": int(counts.sum()),
        "answered": len(run.rater),
        "sessions": run.sessions,
        "raters_excluded": int(run.rejected.sum()),
        "stopped": stopped,
        "p95": float(p95.max()),
        "pearson": float(np.mean([k["pearson"] for k in per_key])),
        "rmse": float(np.mean([k["rmse"] for k in per_key])),
        "perspectives": per_key,
        "ratings_per_image": {
            "min": int(counts.min()),
            "median": float(np.median(counts)),
            "max": int(counts.max()),
        },
        "counts": [int(c) for c in counts],
        "trace": trace,
    }
