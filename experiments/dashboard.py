"""The live dashboard of a study: a handful of aggregate queries, whatever the study's size.

Reads the ratings tables (never writes them). Every figure is one GROUP BY in PostgreSQL; the
ratings-per-stimulus histogram is counted in SQL too (a bincount over per-stimulus counts), so a
study with 100,000 stimuli returns a few dozen rows, not 100,000.
"""

import math
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from experiments.models import Stimulus, Study
from ratings import allocation, precision, qc
from ratings.allocation import on_postgres
from ratings.models import Participant, Rating, RatingSession, Trial
from ratings.participants import stall_after

S = RatingSession.Status
IN_PROGRESS = [S.CONSENT, S.QUESTIONNAIRE, S.DISPLAY_CHECK, S.INSTRUCTIONS, S.TRAINING, S.RATING]
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


def valid_trials(study: Study) -> "Any":
    """Answered test trials that count towards the target (no pilots, exclusions or screen-outs)."""
    return Trial.objects.filter(
        session__study=study,
        kind=Trial.Kind.TEST,
        answered_at__isnull=False,
        session__is_pilot=False,
        session__participant__excluded_reason="",
    ).exclude(session__status=S.SCREENED_OUT)


def _histogram(study: Study, target: int) -> tuple[list[Bin], int, int, int]:
    """(bins 0..target, valid ratings, ratings still needed, test stimuli)."""
    if not on_postgres():
        return _histogram_portable(study, target)
    trials_sql, params = (
        valid_trials(study).values("stimulus_id").annotate(n=Count("id")).query.sql_with_params()
    )
    stimulus = Stimulus._meta.db_table
    sql = f"""
        SELECT LEAST(COALESCE(c.n, 0), %s) AS bin, COUNT(*), SUM(COALESCE(c.n, 0))
        FROM {stimulus} s LEFT JOIN ({trials_sql}) c ON c.stimulus_id = s.id
        WHERE s.study_id = %s AND s.role = %s
        GROUP BY bin ORDER BY bin
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [target, *params, study.pk, Stimulus.Role.TEST])
        rows = cursor.fetchall()
    counts = {int(b): int(n) for b, n, _ in rows}
    ratings = sum(int(total or 0) for _, _, total in rows)
    bins = [
        Bin(ratings=r, stimuli=counts.get(r, 0), label=f"≥{r}" if r == target else str(r))
        for r in range(target + 1)
    ]
    needed = sum((target - b.ratings) * b.stimuli for b in bins)
    return bins, ratings, needed, sum(counts.values())


def _histogram_portable(study: Study, target: int) -> tuple[list[Bin], int, int, int]:
    """The same through the ORM, for the SQLite fallback of scripts/run (small studies only)."""
    per = dict(
        valid_trials(study).values("stimulus_id").annotate(n=Count("id")).values_list("stimulus_id", "n")
    )
    ids = Stimulus.objects.filter(study=study, role=Stimulus.Role.TEST).values_list("pk", flat=True)
    counts: dict[int, int] = {}
    ratings = 0
    for pk in ids:
        n = per.get(pk, 0)
        ratings += n
        counts[min(n, target)] = counts.get(min(n, target), 0) + 1
    bins = [
        Bin(ratings=r, stimuli=counts.get(r, 0), label=f"≥{r}" if r == target else str(r))
        for r in range(target + 1)
    ]
    needed = sum((target - b.ratings) * b.stimuli for b in bins)
    return bins, ratings, needed, sum(counts.values())


def _median_response_ms(study: Study) -> float | None:
    if not on_postgres():
        values = sorted(
            ms
            for ms in Rating.objects.filter(
                session__study=study, kind=Trial.Kind.TEST, response_ms__isnull=False, session__is_pilot=False
            ).values_list("response_ms", flat=True)
            if ms is not None
        )
        return float(statistics.median(values)) if values else None
    rating = Rating._meta.db_table
    session = RatingSession._meta.db_table
    sql = f"""
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY r.response_ms)
        FROM {rating} r JOIN {session} s ON s.id = r.session_id
        WHERE s.study_id = %s AND r.kind = %s AND r.response_ms IS NOT NULL AND NOT s.is_pilot
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [study.pk, Trial.Kind.TEST])
        (median,) = cursor.fetchone()
    return None if median is None else float(median)


def _qc_failures(study: Study) -> tuple[int, dict[str, int]]:
    """Sessions with any failure, and failures by kind (entries are ratings.qc.QcFailure)."""
    if not on_postgres():
        by_kind: dict[str, int] = {}
        failed = 0
        for failures in RatingSession.objects.filter(study=study, is_pilot=False).values_list(
            "qc_failures", flat=True
        ):
            items = qc.failures_from_json(failures)
            failed += bool(items)
            for item in items:
                by_kind[item.kind] = by_kind.get(item.kind, 0) + 1
        return failed, by_kind
    session = RatingSession._meta.db_table
    sql = f"""
        SELECT e ->> %s AS k, COUNT(*), COUNT(DISTINCT s.id)
        FROM {session} s CROSS JOIN LATERAL jsonb_array_elements(s.qc_failures) e
        WHERE s.study_id = %s AND NOT s.is_pilot
        GROUP BY ROLLUP (k)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [qc.KIND_KEY, study.pk])
        rows = cursor.fetchall()
    by_kind = {str(k)[:60]: int(n) for k, n, _ in rows if k is not None}
    failed_sessions = next((int(d) for k, _, d in rows if k is None), 0)
    return failed_sessions, by_kind


# Upper edges of the bins of projected half-width / target (worst perspective); the last is open.
RATIO_EDGES = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)


def _precision(study: Study) -> dict[str, Any] | None:
    """Where a precision study stands: projected interval half-widths against the targets, the
    images per state, and the ratings still needed (ratings.precision, on the allocation's own
    counters and sums)."""
    if study.allocation_mode != Study.AllocationMode.PRECISION:
        return None
    perspective_ids, target = _precision_target(study)
    if target is None:
        return None
    _ids, loads, sums = allocation.precision_state(study_id=study.pk, perspective_ids=perspective_ids)
    if not len(loads):
        return None
    ratio = precision.ratios(sums, loads, target)
    unknown = int((~np.isfinite(ratio)).sum())
    counts = np.histogram(np.clip(ratio[np.isfinite(ratio)], 0, 1e9), bins=(0, *RATIO_EDGES, np.inf))[0]
    labels = [f"≤{RATIO_EDGES[0]:g}×"]
    labels += [f"{lo:g}–{hi:g}×" for lo, hi in zip(RATIO_EDGES, RATIO_EDGES[1:], strict=False)]
    labels += [f">{RATIO_EDGES[-1]:g}×"]
    bins = [
        {"label": label, "stimuli": int(n), "met": i < RATIO_EDGES.index(1.0) + 1}
        for i, (label, n) in enumerate(zip(labels, counts, strict=True))
    ]
    bins.append({"label": "?", "stimuli": unknown, "met": False})
    widths = precision.half_widths(
        sums, confidence=target.confidence, prior_weight=target.prior_weight, n=loads
    )
    keys = list(study.perspectives.order_by("order").values_list("key", flat=True))
    per_perspective = []
    for j, key in enumerate(keys):
        finite = widths[:, j][np.isfinite(widths[:, j])]
        per_perspective.append(
            {
                "key": key,
                "target": target.half_width[j],
                "median": round(float(np.median(finite)), 3) if len(finite) else None,
                "p95": round(float(np.quantile(finite, 0.95)), 3) if len(finite) else None,
            }
        )
    return {
        "minimum": target.minimum,
        "maximum": target.maximum,
        "states": precision.status_counts(sums, loads, target),
        "still_needed": precision.ratings_still_needed(sums, loads, target),
        "ratio_bins": bins,
        "perspectives": per_perspective,
    }


def _precision_target(study: Study) -> tuple[list[int], precision.Target | None]:
    try:
        return allocation.precision_target(study)
    except ValueError:  # a perspective without a target (set outside the settings form)
        return [], None


def study_dashboard(*, study: Study) -> Dashboard:
    precise = _precision(study)
    target = max(study.precision_max_ratings if precise else study.target_ratings, 1)
    stalled = Q(status__in=IN_PROGRESS, last_seen_at__lt=timezone.now() - stall_after(study))
    sessions = RatingSession.objects.filter(study=study, is_pilot=False).aggregate(
        started=Count("id"),
        in_progress=Count("id", filter=Q(status__in=IN_PROGRESS) & ~stalled),
        stalled=Count("id", filter=stalled),
        completed=Count("id", filter=Q(status=S.COMPLETED)),
        screened_out=Count("id", filter=Q(status=S.SCREENED_OUT)),
        declined=Count("id", filter=Q(status=S.DECLINED)),
        expired=Count("id", filter=Q(status=S.EXPIRED)),
    )
    participants = Participant.objects.filter(study=study, is_pilot=False).count()
    bins, ratings, needed, test_stimuli = _histogram(study, target)
    recent = valid_trials(study).filter(answered_at__gte=timezone.now() - RATE_WINDOW).count()
    failed_sessions, by_kind = _qc_failures(study)
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
        valid_ratings=ratings,
        ratings_needed=needed,
        histogram=bins,
        median_response_ms=_median_response_ms(study),
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


def valid_ratings(study: Study) -> "Any":
    """Test ratings that count towards the target, per perspective (as valid_trials)."""
    return Rating.objects.filter(
        session__study=study,
        kind=Trial.Kind.TEST,
        stimulus__role=Stimulus.Role.TEST,
        session__is_pilot=False,
        session__participant__excluded_reason="",
    ).exclude(session__status=S.SCREENED_OUT)


def _perspective_progress(study: Study, target: int, test_stimuli: int) -> list[PerspectiveProgress]:
    """Per perspective: valid ratings, stimuli at target, ratings still needed, fewest per stimulus.

    One GROUP BY over (stimulus, perspective) counts, folded per perspective in SQL: a few rows
    whatever the number of stimuli.
    """
    per_pair = valid_ratings(study).values("stimulus_id", "perspective_id").annotate(n=Count("id"))
    if on_postgres():
        pair_sql, params = per_pair.query.sql_with_params()
        sql = f"""
            SELECT c.perspective_id, SUM(c.n), SUM(LEAST(c.n, %s)), COUNT(*) FILTER (WHERE c.n >= %s),
                   COUNT(*), MIN(c.n)
            FROM ({pair_sql}) c GROUP BY c.perspective_id
        """
        with connection.cursor() as cursor:
            cursor.execute(sql, [target, target, *params])
            rows = {int(r[0]): [int(v or 0) for v in r[1:]] for r in cursor.fetchall()}
    else:
        rows = {}
        for item in per_pair:
            n = item["n"]
            row = rows.setdefault(item["perspective_id"], [0, 0, 0, 0, n])
            row[0] += n
            row[1] += min(n, target)
            row[2] += n >= target
            row[3] += 1
            row[4] = min(row[4], n)
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
    share = _usable_share(study)
    recruit = needed if not share else math.ceil(needed / share)
    pay = float(study.pay_per_participant) if study.pay_per_participant is not None else None
    return {
        "participants_needed": needed,
        "usable_share": share,
        "participants_to_recruit": recruit,
        "pay_per_participant": pay,
        "cost_to_finish": None if pay is None else round(recruit * pay, 2),
    }


def _usable_share(study: Study) -> float | None:
    """Of the participants whose sessions ended, the share whose ratings count (None: nobody yet)."""
    finished = RatingSession.objects.filter(
        study=study, is_pilot=False, status__in=[S.COMPLETED, S.SCREENED_OUT, S.EXPIRED]
    ).aggregate(
        ended=Count("participant", distinct=True),
        usable=Count(
            "participant",
            distinct=True,
            filter=Q(status=S.COMPLETED, participant__excluded_reason="", qc_failures=[]),
        ),
    )
    if not finished["ended"]:
        return None
    return float(finished["usable"] / finished["ended"])


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
