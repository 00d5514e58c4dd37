"""Simulated rich-feedback answers with a planted truth (tests, bench/rich, the pilot).

Pure numpy; every draw comes from the ``rng`` passed in. A study is a list of
:class:`PlantedImage`: an image size, an optional artefact box (normalised ``x0, y0, x1, y1``)
and a prompt whose token ``missing`` (an index into :func:`~analysis.stats.rich.tokenize_prompt`
of the prompt) the image leaves out, or -1.

Raters (:class:`RaterModel`) are honest or random. An honest rater, on each image:

- sees the artefact with probability ``detect``; then puts 1 to 3 points uniformly inside the
  box, each moved by Gaussian noise of SD ``point_noise`` (clipped to the image);
- adds one false point anywhere with probability ``false_point``;
- answers "nothing" when neither happened;
- marks the missing word with probability ``word_hit`` and every other word with probability
  ``word_false``.

A random rater puts 1 to 4 points uniformly anywhere on every image and marks each word with
probability ``random_word``.

:func:`region_recovery` and :func:`word_recovery` measure how well an analysis recovers the
planted truth: the share of artefact images whose heatmap peak falls inside the box, and the
share of images with a missing word where that word is the uniquely top-rated one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .rich import RegionAnswers, RichResult, WordAnswers, tokenize_prompt
from .types import BoolArray, FloatArray, IntArray

__all__ = [
    "PlantedImage",
    "RaterModel",
    "SimulatedAnswers",
    "plant_images",
    "rater_answer",
    "region_recovery",
    "simulate_answers",
    "word_recovery",
]

#: Words the simulated prompts are built from (subject, attribute, object, place).
_SUBJECTS = ("cat", "dog", "horse", "robot", "woman", "child", "owl", "fox")
_COLOURS = ("red", "blue", "green", "golden", "purple", "white")
_OBJECTS = ("umbrella", "guitar", "lantern", "bicycle", "teapot", "book", "kite")
_PLACES = ("beach", "forest", "kitchen", "city street", "mountain lake", "library")


@dataclass(frozen=True)
class PlantedImage:
    """One simulated image: ``size`` (width, height) px, ``box`` or None, prompt, missing token."""

    size: tuple[int, int]
    box: tuple[float, float, float, float] | None
    prompt: str
    missing: int

    @property
    def tokens(self) -> list[str]:
        return tokenize_prompt(self.prompt)


@dataclass(frozen=True)
class RaterModel:
    """Behaviour of the simulated raters (module docstring)."""

    detect: float = 0.8
    point_noise: float = 0.02
    false_point: float = 0.3
    word_hit: float = 0.7
    word_false: float = 0.05
    random_word: float = 0.3


def _prompt(rng: np.random.Generator) -> tuple[str, int]:
    """A prompt and the index of its token the image leaves out (the object)."""
    subject = _SUBJECTS[int(rng.integers(len(_SUBJECTS)))]
    colour = _COLOURS[int(rng.integers(len(_COLOURS)))]
    obj = _OBJECTS[int(rng.integers(len(_OBJECTS)))]
    place = _PLACES[int(rng.integers(len(_PLACES)))]
    prompt = f"A {colour} {subject} holding a {obj}, on a {place}."
    return prompt, tokenize_prompt(prompt).index(obj)


def plant_images(
    n: int,
    *,
    rng: np.random.Generator,
    artefact_share: float = 1.0,
    missing_share: float = 1.0,
    sizes: Sequence[tuple[int, int]] = ((512, 512), (768, 512), (512, 768)),
    box_side: tuple[float, float] = (0.12, 0.3),
) -> list[PlantedImage]:
    """``n`` images; a share get an artefact box (sides drawn from ``box_side``, a fraction of the
    image side) and a share a missing word."""
    out: list[PlantedImage] = []
    for _ in range(n):
        size = sizes[int(rng.integers(len(sizes)))]
        box = None
        if rng.random() < artefact_share:
            w, h = rng.uniform(*box_side, size=2)
            x0, y0 = rng.uniform(0.0, 1.0 - w), rng.uniform(0.0, 1.0 - h)
            box = (float(x0), float(y0), float(x0 + w), float(y0 + h))
        prompt, missing = _prompt(rng)
        out.append(PlantedImage(size, box, prompt, missing if rng.random() < missing_share else -1))
    return out


@dataclass(frozen=True)
class SimulatedAnswers:
    regions: RegionAnswers
    words: WordAnswers
    random_raters: IntArray  # ids of the raters who marked at random
    n_raters: int


def _honest_points(
    box: tuple[float, float, float, float] | None, model: RaterModel, rng: np.random.Generator
) -> FloatArray:
    pts: list[FloatArray] = []
    if box is not None and rng.random() < model.detect:
        x0, y0, x1, y1 = box
        k = int(rng.integers(1, 4))
        inside = np.column_stack([rng.uniform(x0, x1, k), rng.uniform(y0, y1, k)])
        pts.append(inside + rng.normal(0.0, model.point_noise, (k, 2)))
    if rng.random() < model.false_point:
        pts.append(rng.random((1, 2)))
    if not pts:
        return np.zeros((0, 2))
    return np.clip(np.concatenate(pts), 0.0, 1.0)


def rater_answer(
    box: tuple[float, float, float, float] | None,
    missing: int,
    n_tokens: int,
    *,
    rng: np.random.Generator,
    random_rater: bool = False,
    model: RaterModel = RaterModel(),
) -> tuple[FloatArray, BoolArray]:
    """One rater's answer on one image: ``(points (k, 2), word marks (n_tokens,))``.

    ``box`` is the planted artefact (or None), ``missing`` the planted missing token (or -1);
    behaviour as in the module docstring.

    >>> pts, marks = rater_answer((0.1, 0.1, 0.3, 0.3), 2, 4, rng=np.random.default_rng(0))
    >>> pts.shape[1], marks.shape
    (2, (4,))
    """
    if random_rater:
        return rng.random((int(rng.integers(1, 5)), 2)), np.asarray(rng.random(n_tokens) < model.random_word)
    marks = rng.random(n_tokens) < model.word_false
    if missing >= 0:
        marks[missing] = rng.random() < model.word_hit
    return _honest_points(box, model, rng), np.asarray(marks, dtype=bool)


def simulate_answers(
    images: Sequence[PlantedImage],
    *,
    rng: np.random.Generator,
    raters_per_image: int = 10,
    images_per_rater: int = 40,
    random_share: float = 0.1,
    model: RaterModel = RaterModel(),
) -> SimulatedAnswers:
    """Answers of a rater pool where every image gets ``raters_per_image`` distinct raters.

    The pool has ``ceil(len(images) * raters_per_image / images_per_rater)`` raters (at least
    ``raters_per_image``); a share ``random_share`` of them mark at random. Each image's raters
    are the least-loaded ones, ties broken at random, so loads stay within one of each other.
    """
    n_img = len(images)
    n_raters = max(raters_per_image, math.ceil(n_img * raters_per_image / max(1, images_per_rater)))
    is_random = np.zeros(n_raters, dtype=bool)
    is_random[rng.permutation(n_raters)[: round(random_share * n_raters)]] = True
    load = np.zeros(n_raters)
    rater_col: list[int] = []
    image_col: list[int] = []
    points: list[FloatArray] = []
    marks: list[BoolArray] = []
    for i, img in enumerate(images):
        chosen = np.lexsort((rng.random(n_raters), load))[:raters_per_image]
        load[chosen] += 1
        for r in chosen.tolist():
            rater_col.append(r)
            image_col.append(i)
            pts, marked = rater_answer(
                img.box, img.missing, len(img.tokens), rng=rng, random_rater=bool(is_random[r]), model=model
            )
            points.append(pts)
            marks.append(marked)
    rater = np.array(rater_col, dtype=np.intp)
    image = np.array(image_col, dtype=np.intp)
    return SimulatedAnswers(
        regions=RegionAnswers(rater, image, points),
        words=WordAnswers(rater.copy(), image.copy(), marks),
        random_raters=np.flatnonzero(is_random).astype(np.intp),
        n_raters=n_raters,
    )


def _inside(point: FloatArray, box: tuple[float, float, float, float]) -> bool:
    x, y = float(point[0]), float(point[1])
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def region_recovery(result: RichResult, images: Sequence[PlantedImage]) -> float:
    """Share of artefact images whose heatmap peak lies inside the planted box (NaN if none)."""
    hits = [_inside(result.peaks[i], img.box) for i, img in enumerate(images) if img.box is not None]
    return float(np.mean(hits)) if hits else math.nan


def word_recovery(result: RichResult, images: Sequence[PlantedImage]) -> float:
    """Share of images with a missing word where it is the uniquely top-rated word (NaN if none)."""
    hits = [int(result.top_word[i]) == img.missing for i, img in enumerate(images) if img.missing >= 0]
    return float(np.mean(hits)) if hits else math.nan
