"""Seeded synthetic studies for the analysis benchmarks (not a test fixture)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Study:
    rater: np.ndarray
    stimulus: np.ndarray
    score: np.ndarray
    n_raters: int
    n_stimuli: int
    truth: np.ndarray
    bias: np.ndarray
    random_rater: np.ndarray


def make_study(
    n_stimuli: int,
    n_raters: int,
    coverage: float,
    *,
    seed: int,
    random_share: float = 0.1,
    levels: int = 5,
) -> Study:
    """Balanced incomplete design: each rater scores ``coverage * n_stimuli`` distinct stimuli.

    Honest raters: round(truth + bias + N(0, v^2)) clipped to 1..levels; random raters: uniform.
    """
    rng = np.random.default_rng(seed)
    per_rater = int(round(coverage * n_stimuli))
    total = per_rater * n_raters
    if n_stimuli % per_rater == 0:
        perms = -(-total // n_stimuli)
        stimulus = np.concatenate([rng.permutation(n_stimuli) for _ in range(perms)])[:total]
    else:
        stimulus = np.concatenate([rng.choice(n_stimuli, per_rater, replace=False) for _ in range(n_raters)])
    rater = np.repeat(np.arange(n_raters), per_rater)
    truth = rng.uniform(1.5, levels - 0.5, n_stimuli)
    bias = rng.normal(0.0, 0.4, n_raters)
    inconsistency = rng.uniform(0.3, 0.9, n_raters)
    random_rater = rng.random(n_raters) < random_share
    noise = rng.normal(0.0, 1.0, total) * inconsistency[rater]
    score = np.clip(np.rint(truth[stimulus] + bias[rater] + noise), 1, levels)
    rand = random_rater[rater]
    score[rand] = rng.integers(1, levels + 1, int(rand.sum()))
    return Study(
        rater,
        stimulus.astype(np.intp),
        score.astype(np.float64),
        n_raters,
        n_stimuli,
        truth,
        bias,
        random_rater,
    )
