"""Balanced vs precision allocation on simulated AIGCIQA2023-shaped studies (issue 16).

Both modes run through the allocation policy the app uses (`ratings.precision.order` for precision;
for balanced, the app's rule: lowest load first, random among equals), with the app's screening
(BT.500 from `analysis.stats`) re-run while the study fills and excluded raters' ratings removed from
the counts, as the recount does. Each mode stops at the first point where the 95th percentile of the
plain 95% CI half-widths of the valid ratings meets the target in every perspective; then the final
MOS (the default method, bt500_zscore) is compared with the planted truth.

    .venv/bin/python bench/precision/run.py [--seeds 5] [--images 2400] [--target 0.25]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from analysis.stats import Ratings, analyse  # noqa: E402
from analysis.stats.recovery import recovery  # noqa: E402
from ratings import precision  # noqa: E402

PERSPECTIVES = 3


@dataclass
class World:
    truth: np.ndarray  # (images, perspectives) on 1..5
    spread: np.ndarray  # (images,) per-image SD of honest votes
    rng: np.random.Generator
    random_share: float

    def rater(self) -> tuple[float, float, bool]:
        return (
            float(self.rng.normal(0, 0.3)),
            float(self.rng.lognormal(0, 0.25)),
            bool(self.rng.random() < self.random_share),
        )

    def votes(self, images: np.ndarray, bias: float, noise: float, is_random: bool) -> np.ndarray:
        k = images.size
        if is_random:
            return self.rng.integers(1, 6, (k, PERSPECTIVES)).astype(float)
        x = (
            self.truth[images]
            + bias
            + self.rng.normal(0, 1, (k, PERSPECTIVES)) * (self.spread[images] * noise)[:, None]
        )
        return np.clip(np.rint(x), 1, 5)


def make_world(n_images: int, seed: int, random_share: float) -> World:
    rng = np.random.default_rng(seed)
    truth = rng.uniform(1.6, 4.4, (n_images, 1)) + rng.normal(0, 0.3, (n_images, PERSPECTIVES))
    # Per-image disagreement from a wide distribution: clean images near-unanimous, polarising ones
    # split (log-normal, median 0.55 scale points, 5-95% about 0.25-1.2).
    spread = np.clip(rng.lognormal(np.log(0.55), 0.45, n_images), 0.15, 1.6)
    return World(np.clip(truth, 1.2, 4.8), spread, rng, random_share)


def screened(rater, stimulus, scores, n_raters, n_images) -> np.ndarray:
    """Raters rejected by BT.500 in any perspective (the app excludes a participant as a whole)."""
    out = np.zeros(n_raters, bool)
    for p in range(PERSPECTIVES):
        r = Ratings.from_arrays(rater, stimulus, scores[:, p], n_raters=n_raters, n_stimuli=n_images)
        res = analyse(r, "bt500_zscore")
        out |= np.asarray(res.raters.rejected, bool)
    return out


def simulate(mode: str, n_images: int, seed: int, args) -> dict:
    world = make_world(n_images, seed, args.random_share)
    alloc_rng = np.random.default_rng(seed + 1000)
    target = precision.Target(
        half_width=(args.target,) * PERSPECTIVES, minimum=args.minimum, maximum=args.maximum
    )
    raters, stims, scores = [], [], []
    rejected = np.zeros(0, bool)
    load = np.zeros(n_images)
    sessions = 0
    t0 = time.perf_counter()
    while True:
        # valid data and the counters, as the recount rebuilds them
        if raters:
            r = np.concatenate(raters)
            s = np.concatenate(stims)
            x = np.concatenate(scores)
            known = np.zeros(sessions, bool)
            known[: rejected.size] = rejected
            keep = ~known[r]
            sums = precision.Sums.of_ratings(s[keep], x[keep], n_images)
        else:
            sums = precision.Sums.of_ratings(np.zeros(0, np.intp), np.zeros((0, PERSPECTIVES)), n_images)
        load = sums.n[:, 0].copy()
        hw = precision.half_widths(sums)
        p95 = np.percentile(np.minimum(hw, 1e9), 95, axis=0)
        if np.all(p95 <= args.target):
            break
        if sessions >= args.max_sessions:
            break
        batch = []
        for _ in range(args.concurrent):
            if mode == "precision":
                ranked = precision.order(sums, load, target, alloc_rng)
            else:
                tie = alloc_rng.random(n_images)
                ranked = np.lexsort((tie, load))
            chosen = ranked[: args.per_session]
            if chosen.size == 0:
                break
            load[chosen] += 1  # live assignments count, as in the app
            batch.append(chosen)
        if not batch:
            break
        for chosen in batch:
            bias, noise, is_random = world.rater()
            rid = sessions
            sessions += 1
            raters.append(np.full(chosen.size, rid))
            stims.append(chosen)
            scores.append(world.votes(chosen, bias, noise, is_random))
        if sessions % args.screen_every < args.concurrent or sessions < args.screen_every:
            r = np.concatenate(raters)
            rejected = screened(r, np.concatenate(stims), np.concatenate(scores), sessions, n_images)
    r = np.concatenate(raters)
    s = np.concatenate(stims)
    x = np.concatenate(scores)
    rejected = screened(r, s, x, sessions, n_images)
    keep = ~rejected[r]
    sums = precision.Sums.of_ratings(s[keep], x[keep], n_images)
    hw = precision.half_widths(sums)
    pear, rmse = [], []
    for p in range(PERSPECTIVES):
        res = analyse(
            Ratings.from_arrays(r, s, x[:, p], n_raters=sessions, n_stimuli=n_images), "bt500_zscore"
        )
        rec = recovery(world.truth[:, p], res.stimuli.mos)
        pear.append(rec.pearson)
        rmse.append(rec.rmse)
    n_valid = sums.n[:, 0]
    return {
        "mode": mode,
        "seed": seed,
        "valid": int(keep.sum()),
        "all": int(r.size),
        "sessions": sessions,
        "p95": float(np.percentile(np.minimum(hw, 1e9), 95, axis=0).max()),
        "pearson": float(np.mean(pear)),
        "rmse": float(np.mean(rmse)),
        "min_n": int(n_valid.min()),
        "max_n": int(n_valid.max()),
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--images", type=int, default=2400)
    ap.add_argument("--target", type=float, default=0.2, help="95%% CI half-width, raw scale points")
    ap.add_argument("--minimum", type=int, default=6)
    ap.add_argument("--maximum", type=int, default=120)
    ap.add_argument("--per-session", type=int, default=60)
    ap.add_argument("--concurrent", type=int, default=8)
    ap.add_argument("--screen-every", type=int, default=40)
    ap.add_argument("--random-share", type=float, default=0.08)
    ap.add_argument("--max-sessions", type=int, default=20000)
    args = ap.parse_args()
    print(
        f"{args.images} images x {PERSPECTIVES} perspectives, 1..5, target half-width {args.target}, "
        f"min {args.minimum}, max {args.maximum}, {args.per_session} images per session, "
        f"{args.concurrent} concurrent sessions, {args.random_share:.0%} random raters, "
        f"BT.500 re-run every {args.screen_every} sessions"
    )
    header = f"{'seed':>4} {'mode':>9} {'valid':>8} {'sessions':>8} {'p95 hw':>7} {'pearson':>8} {'rmse':>6} {'min n':>5} {'max n':>5} {'s':>5}"
    print(header)
    savings, dp = [], []
    for seed in range(args.seeds):
        out = {}
        for mode in ("balanced", "precision"):
            o = simulate(mode, args.images, seed, args)
            out[mode] = o
            print(
                f"{seed:>4} {mode:>9} {o['valid']:>8} {o['sessions']:>8} {o['p95']:>7.3f} {o['pearson']:>8.4f} "
                f"{o['rmse']:>6.3f} {o['min_n']:>5} {o['max_n']:>5} {o['seconds']:>5.1f}"
            )
        saving = 1 - out["precision"]["valid"] / out["balanced"]["valid"]
        savings.append(saving)
        dp.append(out["precision"]["pearson"] - out["balanced"]["pearson"])
        print(f"     saving {saving:.1%}, pearson difference {dp[-1]:+.4f}")
    print(
        f"mean saving {np.mean(savings):.1%} (min {np.min(savings):.1%}, max {np.max(savings):.1%}); "
        f"largest |pearson difference| {np.max(np.abs(dp)):.4f}"
    )


if __name__ == "__main__":
    main()
