"""The live dashboard of a study: a handful of aggregate queries, whatever the study's size.

The figures about ratings come from `ratings.selectors` (what counts as a valid rating is decided
there); every one is a single GROUP BY in PostgreSQL, so a study with 100,000 stimuli returns a
few dozen rows, not 100,000. This module folds them into the researcher's view: bins, plan, cost.
"""

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from experiments.models import Study
from ratings import selectors as ratings

RATE_WINDOW = timedelta(hours=1)


@dataclass
class Bin:
    ratings: int  # valid ratings a stimulus has (the last bin: at least the target)
    stimuli: int
    label: str


@dataclass
class PerspectiveProgress:
    """Valid ratings of one perspective over the test stimuli (exclusions of the latest real analysis)."""

    key: str
    label: str
    valid_ratings: int
    stimuli_at_target: int
    ratings_needed: int
    fewest: int  # valid ratings of the least-rated test stimulus


@dataclass
class Dashboard:
    status: str
    target: int
    participants: int
    sessions_started: int
    sessions_in_progress: int
    sessions_completed: int
    sessions_screened_out: int
    sessions_declined: int
    sessions_expired: int
    test_stimuli: int
    stimuli_at_target: int
    valid_ratings: int
    ratings_needed: int
    histogram: list[Bin]
    median_response_ms: float | None
    qc_failed_sessions: int
    qc_failures: dict[str, int]
    ratings_last_hour: int
    eta_seconds: float | None
    sessions_stalled: int = 0
    perspectives: list[PerspectiveProgress] = field(default_factory=list)
    participants_needed: int = 0  # complete, usable participants still needed
    usable_share: float | None = None  # of the finished participants, the share whose ratings count
    participants_to_recruit: int = 0
    pay_per_participant: float | None = None
    cost_to_finish: float | None = None
    latest_analysis: dict[str, Any] | None = None  # the run whose exclusions the figures reflect
    precision: dict[str, Any] | None = None  # precision mode only (`_precision`)
    generated_at: datetime = field(default_factory=timezone.now)

    @property
    def percent_complete(self) -> float:
        total = self.test_stimuli * self.target
        return 100.0 if total == 0 else 100.0 * (total - self.ratings_needed) / total

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["percent_complete"] = round(self.percent_complete, 1)
        data["generated_at"] = self.generated_at.isoformat()
        data["eta_text"] = self.eta_text
        data["median_response_text"] = self.median_response_text
        data["cost_text"] = self.cost_text
        data["usable_text"] = self.usable_text
        return data

    @property
    def cost_text(self) -> str:
        if self.cost_to_finish is None:
            return str(_("enter the pay per participant"))
        return f"{self.cost_to_finish:,.2f}"

    @property
    def usable_text(self) -> str:
        if self.usable_share is None:
            return str(_("no finished participants yet: assumed 100 %"))
        return _("%(pct).0f %% of finished participants give usable ratings") % {
            "pct": 100 * self.usable_share
        }

    @property
    def median_response_text(self) -> str:
        return "–" if self.median_response_ms is None else f"{self.median_response_ms / 1000:.1f} s"

    @property
    def eta_text(self) -> str:
        if self.eta_seconds is None:
            return str(_("unknown (no ratings in the last hour)"))
        if self.eta_seconds == 0:
            return str(_("target reached"))
        return human_duration(self.eta_seconds)


def human_duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return str(_("under a minute"))
    if minutes < 120:
        return _("about %d min") % minutes
    hours = minutes / 60
    if hours < 48:
        return _("about %.1f h") % hours
    return _("about %.1f days") % (hours / 24)


def _histogram(study: Study, target: int) -> tuple[list[Bin], int, int, int]:
    """(bins 0..target, valid ratings, ratings still needed, test stimuli)."""
    counts, ratings_total = ratings.valid_rating_histogram(study=study, target=target)
    bins = [
        Bin(ratings=r, stimuli=counts.get(r, 0), label=f"≥{r}" if r == target else str(r))
        for r in range(target + 1)
    ]
    needed = sum((target - b.ratings) * b.stimuli for b in bins)
    return bins, ratings_total, needed, sum(counts.values())


def study_dashboard(*, study: Study) -> Dashboard:
    precise = ratings.precision_progress(study=study)
    target = max(study.precision_max_ratings if precise else study.target_ratings, 1)
    sessions = ratings.study_session_counts(study=study)
    participants = ratings.study_participant_count(study=study)
    bins, valid, needed, test_stimuli = _histogram(study, target)
    recent = ratings.valid_trial_count_since(study=study, since=timezone.now() - RATE_WINDOW)
    failed_sessions, by_kind = ratings.qc_failure_counts(study=study)
    perspectives = _perspective_progress(study, target, test_stimuli)
    plan = _plan(study, target, test_stimuli, perspectives, active_sessions=sessions["in_progress"])
    if precise:  # what the precision rule still asks for, not everything up to the maximum
        needed = precise["still_needed"]
    return Dashboard(
        status=study.status,
        target=target,
        participants=participants,
        sessions_started=sessions["started"],
        sessions_in_progress=sessions["in_progress"],
        sessions_completed=sessions["completed"],
        sessions_screened_out=sessions["screened_out"],
        sessions_declined=sessions["declined"],
        sessions_expired=sessions["expired"],
        test_stimuli=test_stimuli,
        stimuli_at_target=bins[-1].stimuli if bins else 0,
        valid_ratings=valid,
        ratings_needed=needed,
        histogram=bins,
        median_response_ms=ratings.median_response_ms(study=study),
        qc_failed_sessions=failed_sessions,
        qc_failures=by_kind,
        ratings_last_hour=recent,
        eta_seconds=_eta_seconds(needed, recent),
        sessions_stalled=sessions["stalled"],
        perspectives=perspectives,
        latest_analysis=_latest_real_analysis(study),
        **plan,
        precision=precise,
    )


def _perspective_progress(study: Study, target: int, test_stimuli: int) -> list[PerspectiveProgress]:
    """Per perspective: valid ratings, stimuli at target, ratings still needed, fewest per stimulus."""
    rows = ratings.perspective_rating_counts(study=study, target=target)
    out = []
    for p in study.perspectives.order_by("order"):
        total, capped, at_target, rated, fewest = rows.get(p.pk, [0, 0, 0, 0, 0])
        out.append(
            PerspectiveProgress(
                key=p.key,
                label=p.label,
                valid_ratings=total,
                stimuli_at_target=at_target,
                ratings_needed=test_stimuli * target - capped,
                fewest=fewest if rated >= test_stimuli else 0,
            )
        )
    return out


def _plan(
    study: Study,
    target: int,
    test_stimuli: int,
    perspectives: list[PerspectiveProgress],
    *,
    active_sessions: int,
) -> dict[str, Any]:
    """Participants still needed, to recruit (at the observed usable share), and what they cost.

    Balanced subsets: each usable participant gives `stimuli_per_session` ratings per perspective,
    and the sessions in progress are counted as if they finish. Every-participant-rates-everything:
    each usable participant adds one rating to every stimulus.
    """
    if not perspectives or test_stimuli == 0:
        needed = 0
    elif study.allocation_mode == Study.AllocationMode.FULL:
        needed = max(target - min(p.fewest for p in perspectives), 0)
    else:
        per_session = max(min(study.stimuli_per_session, test_stimuli), 1)
        needed = math.ceil(max(p.ratings_needed for p in perspectives) / per_session)
    needed = max(needed - active_sessions, 0)
    share = ratings.usable_share(study=study)
    recruit = needed if not share else math.ceil(needed / share)
    pay = float(study.pay_per_participant) if study.pay_per_participant is not None else None
    return {
        "participants_needed": needed,
        "usable_share": share,
        "participants_to_recruit": recruit,
        "pay_per_participant": pay,
        "cost_to_finish": None if pay is None else round(recruit * pay, 2),
    }


def _latest_real_analysis(study: Study) -> dict[str, Any] | None:
    """The latest finished analysis of real data only: the one whose exclusions are in force."""
    from analysis.models import AnalysisRun  # analysis depends on experiments, not the reverse

    run = (
        AnalysisRun.objects.filter(
            study=study, status=AnalysisRun.Status.DONE, pilot_only=False, include_pilot=False
        )
        .order_by("-finished_at", "-pk")
        .values("pk", "finished_at", "summary")
        .first()
    )
    if run is None or run["finished_at"] is None:
        return None
    rejected = run["summary"].get("rejected_raters", []) if isinstance(run["summary"], dict) else []
    return {"id": run["pk"], "finished_at": run["finished_at"].isoformat(), "rejected": len(rejected)}


def _eta_seconds(needed: int, last_hour: int) -> float | None:
    """At the pace of the last hour; None when nothing is needed-but-stalled or nothing is known."""
    if needed == 0:
        return 0.0
    if last_hour == 0:
        return None
    return needed / last_hour * RATE_WINDOW.total_seconds()
