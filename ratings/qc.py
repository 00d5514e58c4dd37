"""Quality-control rules applied while a session runs. Pure functions on scores.

Accepted ranges (the defaults; a gold stimulus may override them):
- gold: a reference score r per perspective in `Stimulus.reference_scores`; a score passes when
  |score - r| <= 1 level on an integer scale, <= 15 % of the range on a continuous one. A reference
  given as [low, high] is an explicit accepted range.
- repeat: the second presentation passes when every perspective is within the same tolerance of
  the first.
- correspondence trap (a test image shown with another prompt of the study): passes when the
  correspondence score is at most the scale midpoint.
- straight-lining: fails when, over at least `STRAIGHTLINE_MIN_TRIALS` test trials, every perspective
  got one single value throughout.
"""

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

CORRESPONDENCE_KEY = "correspondence"
CONTINUOUS_TOLERANCE = 0.15
STRAIGHTLINE_MIN_TRIALS = 5

FailureKind = Literal["gold", "trap", "repeat", "straightlining"]
FAILURE_KINDS: tuple[str, ...] = get_args(FailureKind)
# The JSON key of the kind in RatingSession.qc_failures (the dashboard reads it in SQL).
KIND_KEY = "kind"


@dataclass(frozen=True)
class QcFailure:
    """One failed check of a session, as stored in `RatingSession.qc_failures` (a JSON list of
    `as_json()` dicts). The submission path writes it; every reader goes through `from_json`.

    `trial` is the trial index, `stimulus` the stimulus id; `details` holds per-perspective
    figures of the check (score, accepted range, first answer), empty for straight-lining.
    """

    kind: FailureKind
    trial: int
    stimulus: int
    at: str  # ISO 8601 time of the answer that failed
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "QcFailure":
        kind = value[KIND_KEY]
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown quality-control check {kind!r}")
        return cls(
            kind=kind,
            trial=int(value["trial"]),
            stimulus=int(value["stimulus"]),
            at=str(value["at"]),
            details=dict(value.get("details") or {}),
        )

    def describe(self) -> str:
        """Short text for reasons and exports, e.g. "gold (trial 7)"."""
        return f"{self.kind} (trial {self.trial})"


def failures_from_json(values: Any) -> list[QcFailure]:
    """The failures of one session's `qc_failures` column."""
    return [QcFailure.from_json(v) for v in values or []]


def tolerance(*, scale_kind: str, scale_min: float, scale_max: float) -> float:
    if scale_kind == "integer":
        return 1.0
    return CONTINUOUS_TOLERANCE * (scale_max - scale_min)


def gold_failures(
    *, scores: Mapping[str, float], reference: Mapping[str, Any], tol: float
) -> dict[str, dict[str, Any]]:
    """Perspectives whose score is outside the gold stimulus' accepted range."""
    failed: dict[str, dict[str, Any]] = {}
    for key, ref in reference.items():
        if key not in scores:
            continue
        if isinstance(ref, list | tuple) and len(ref) == 2:
            low, high = float(ref[0]), float(ref[1])
        else:
            low, high = float(ref) - tol, float(ref) + tol
        if not low <= scores[key] <= high:
            failed[key] = {"score": scores[key], "accepted": [low, high]}
    return failed


def repeat_failures(
    *, scores: Mapping[str, float], first: Mapping[str, float], tol: float
) -> dict[str, dict[str, Any]]:
    """Perspectives whose repeated score differs from the first by more than the tolerance."""
    return {
        key: {"score": scores[key], "first": first[key]}
        for key in scores
        if key in first and abs(scores[key] - first[key]) > tol
    }


def trap_failure(*, scores: Mapping[str, float], scale_min: float, scale_max: float) -> dict[str, Any] | None:
    """A too-high correspondence score for a mismatched prompt, or None when it passes."""
    score = scores.get(CORRESPONDENCE_KEY)
    midpoint = (scale_min + scale_max) / 2
    if score is None or score <= midpoint:
        return None
    return {"score": score, "max_accepted": midpoint}


def is_straightlining(test_scores: Iterable[Mapping[Any, float]]) -> bool:
    """True when every perspective kept one value over enough test trials."""
    rows = list(test_scores)
    if len(rows) < STRAIGHTLINE_MIN_TRIALS:
        return False
    keys = rows[0].keys()
    return all(len({row.get(key) for row in rows}) == 1 for key in keys)
