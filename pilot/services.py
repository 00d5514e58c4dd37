"""Pilot mode: dry-run a study with simulated participants, analyse them, compare with the truth.

A pilot run (`PilotRun`) drives `pilot.simulator` against the study's own server, through the
real participant flow. The server learns that a participant is simulated from a signed pilot
token in the study link (`?pilot=...`, `django.core.signing` with the secret key, bound to the
study and to a running pilot): nobody without the secret key can make one, and it opens the
entry of a draft or paused study for the pilot only. Those participants and their sessions are
flagged `is_pilot`; real results never include them unless a researcher asks (`include_pilot`),
and the pilot's own analysis reads pilot data only (`AnalysisRun.pilot_only`).

Allocation: pilot sessions take stimuli through the real balanced allocation (so that the
pilot shows what real participants would get); when the simulation ends, the pilot's unfinished
sessions are closed and the counters recounted without pilot sessions, so real participants
lose nothing. "Remove pilot data" deletes every pilot participant (with sessions, trials and
ratings), the pilots' analyses and files, and recounts the counters again.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from kombu.exceptions import KombuError

from analysis.models import AnalysisRun
from analysis.services import analysis_run_execute, analysis_run_start
from analysis.stats import DEFAULT_METHOD
from config.jobs import job_send
from experiments.models import Stimulus, Study
from pilot import report as reports
from pilot import rich, simulator
from pilot.exceptions import PilotBusy, PilotInvalid, PilotQueueUnavailable
from pilot.links import panel_query, pilot_token_make
from pilot.models import PilotRun
from pilot.selectors import pilot_data_counts
from ratings import allocation
from ratings.models import Participant, RatingSession, Trial

logger = logging.getLogger(__name__)

Status = PilotRun.Status
MAX_RATERS = 500
CONCURRENCY = 8
ACTIVE = (Status.PENDING, Status.RUNNING, Status.ANALYSING)
MAX_DIFFICULTY = 2.0  # log-SD: beyond it, a few images would be pure noise
STALE_AFTER_SECONDS = 30 * 60  # an active pilot older than this does not block a new one
EXECUTE_TASK = "pilot.tasks.pilot_run_execute_task"


# --- Start --------------------------------------------------------------------------------------
def _check_options(
    raters: int, spammers: float, straightliners: float, abandoners: float, noise: float, difficulty: float
) -> None:
    if not 1 <= raters <= MAX_RATERS:
        raise PilotInvalid(_("Choose between 1 and %(n)s simulated raters.") % {"n": MAX_RATERS})
    shares = (spammers, straightliners, abandoners)
    if any(not 0 <= s <= 1 for s in shares) or spammers + straightliners > 1:
        raise PilotInvalid(
            _("Shares are fractions between 0 and 1; spammers and straight-liners add up to 1 at most.")
        )
    if not 0 <= noise <= 10:
        raise PilotInvalid(_("The inconsistency must be between 0 and 10 scale points."))
    if not 0 <= difficulty <= MAX_DIFFICULTY:
        raise PilotInvalid(
            _("The spread of image difficulty must be between 0 and %(max)s.") % {"max": MAX_DIFFICULTY}
        )


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PilotInvalid(_("The pilot needs the server's address (http:// or https://), e.g. SITE_URL."))
    return base_url.rstrip("/")


@transaction.atomic
def pilot_run_start(
    *,
    study: Study,
    raters: int,
    base_url: str,
    user: User | AnonymousUser | None = None,
    seed: int | None = None,
    spammers: float = 0.1,
    straightliners: float = 0.05,
    abandoners: float = 0.05,
    noise: float = 0.5,
    difficulty: float = 0.0,
    compare_modes: bool = False,
    enqueue: bool = True,
) -> PilotRun:
    """Create a pending pilot of `raters` simulated participants and enqueue it after commit.

    Works on draft, paused and open studies (not closed ones). One active pilot per study.
    """
    _check_options(raters, spammers, straightliners, abandoners, noise, difficulty)
    locked = Study.objects.select_for_update().get(pk=study.pk)
    if locked.status == Study.Status.CLOSED:
        raise PilotBusy(_("This study is closed: a pilot cannot run on it."))
    if not locked.stimuli.filter(role=Stimulus.Role.TEST).exists():
        raise PilotInvalid(_("Upload test stimuli before running a pilot."))
    recent = timezone.now() - timedelta(seconds=STALE_AFTER_SECONDS)
    if PilotRun.objects.filter(study=study, status__in=ACTIVE, created_at__gte=recent).exists():
        raise PilotBusy(_("A pilot of this study is running; wait until it ends."))
    run = PilotRun(
        study=study,
        raters=raters,
        seed=seed if seed is not None else secrets.randbelow(2**31),
        spammers=spammers,
        straightliners=straightliners,
        abandoners=abandoners,
        noise=noise,
        difficulty=difficulty,
        compare_modes=compare_modes,
        base_url=_check_base_url(base_url),
        created_by=user if isinstance(user, User) else None,
        progress_message=_("Waiting for a worker"),
    )
    run.full_clean()
    run.save()
    if enqueue:
        run_id = run.pk
        transaction.on_commit(lambda: pilot_run_enqueue(run_id=run_id))
    return run


def pilot_run_enqueue(*, run_id: int) -> None:
    """Publish the pilot's job; raise PilotQueueUnavailable if the broker refuses it (the pilot
    stays pending and `pilot_runs_sweep` publishes it later)."""
    try:
        job_send(EXECUTE_TASK, run_id)
    except (KombuError, OSError) as exc:
        logger.warning("pilot %s: could not publish the job: %s", run_id, exc)
        PilotRun.objects.filter(pk=run_id, status=Status.PENDING).update(
            progress_message=_("Waiting for the job queue (unavailable)")
        )
        raise PilotQueueUnavailable(run_id) from exc
    PilotRun.objects.filter(pk=run_id).update(enqueued_at=timezone.now())


def pilot_runs_sweep(*, pending_after: timedelta | None = None) -> list[int]:
    """Publish again the pending pilots the queue never got (or lost); return their ids.

    A pilot whose worker died while it simulated cannot run again (a second simulation would add
    participants): after STALE_AFTER_SECONDS it is marked failed, so that a new one can start.
    """
    now = timezone.now()
    if pending_after is None:
        pending_after = timedelta(seconds=settings.JOB_PENDING_SECONDS)
    PilotRun.objects.filter(
        status__in=(Status.RUNNING, Status.ANALYSING),
        started_at__lt=now - timedelta(seconds=STALE_AFTER_SECONDS),
    ).update(
        status=Status.FAILED,
        error=_("The worker running this pilot stopped; start a new pilot."),
        progress_message="Failed",
        finished_at=now,
    )
    pending = PilotRun.objects.filter(status=Status.PENDING).filter(
        Q(enqueued_at__isnull=True, created_at__lt=now - pending_after)
        | Q(enqueued_at__lt=now - pending_after)
    )
    published = []
    for run_id in pending.order_by("id").values_list("id", flat=True):
        try:
            pilot_run_enqueue(run_id=run_id)
        except PilotQueueUnavailable:
            break  # the next sweep tries again
        published.append(run_id)
    return published


# --- Execute ------------------------------------------------------------------------------------
def _update(run: PilotRun, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(run, name, value)
    PilotRun.objects.filter(pk=run.pk).update(**fields)


def pilot_run_execute(*, run_id: int) -> str:
    """Claim the pilot and run it: simulate, settle allocation, analyse, compare; return the outcome.

    Not retried as a whole: a second simulation would add participants. A redelivered message
    finds the pilot claimed and does nothing ("skipped").
    """
    claimed = PilotRun.objects.filter(pk=run_id, status=Status.PENDING).update(
        status=Status.RUNNING, started_at=timezone.now(), progress_message="Simulating participants"
    )
    if not claimed:
        return "skipped"
    run = PilotRun.objects.select_related("study").get(pk=run_id)
    try:
        _simulate(run)
        if not PilotRun.objects.filter(pk=run.pk).exists():
            return "removed"  # "Remove pilot data" while it ran
        _update(run, status=Status.ANALYSING, progress_message="Analysing the pilot's ratings")
        analysis = _analyse(run)
        report = reports.report_build(run, analysis)
        plot = reports.plot_save(run, report)
        if run.compare_modes:
            _update(run, progress_message="Simulating the study in balanced and precision allocation")
            report["modes"] = reports.modes_build(run)
    except Exception as exc:  # deterministic or not, the researcher needs to see it
        logger.exception("pilot %s failed", run_id)
        _update(
            run,
            status=Status.FAILED,
            error=str(exc)[:2000] or type(exc).__name__,
            progress_message="Failed",
            finished_at=timezone.now(),
        )
        return "failed"
    _update(
        run, status=Status.DONE, report=report, plot=plot, progress_message="Done", finished_at=timezone.now()
    )
    return "done"


def _simulate(run: PilotRun) -> None:
    study = run.study
    token = pilot_token_make(run)
    pids: dict[int, str] = {}

    def query(rater: simulator.Rater) -> dict[str, str]:
        pids[rater.index] = f"pilot{run.pk}-{rater.index:04d}-{secrets.token_hex(3)}"
        return {**panel_query(study.panel, pids[rater.index]), "pilot": token}

    population = reports.population_of(run)
    result = simulator.simulate(
        run.base_url,
        study.slug,
        run.raters,
        population=population,
        concurrency=min(CONCURRENCY, run.raters),
        query=query,
        annotate=rich.annotator(study, run.seed),
    )
    planted = [
        {
            **p.rater.as_dict(),
            "pid": pids.get(p.rater.index, ""),
            "outcome": p.outcome,
            "answered": p.answered,
        }
        for p in result.participants
    ]
    _update(run, planted=planted, simulation=result.summary())
    _sessions_settle(study)
    if not any(p.answered for p in result.participants):
        errors = "; ".join(result.stats.errors[:3]) or ", ".join(
            f"{k}: {v}" for k, v in result.outcomes().items()
        )
        raise PilotInvalid(_("No simulated participant could rate (%(why)s).") % {"why": errors})


@transaction.atomic
def _sessions_settle(study: Study) -> None:
    """Close the pilot's unfinished sessions and give back every allocation they held."""
    RatingSession.objects.filter(study=study, is_pilot=True, status__in=RatingSession.LIVE_STATUSES).update(
        status=RatingSession.Status.EXPIRED, expired_from=""
    )
    allocation.stimulus_loads_recount(study_id=study.pk)


def _analyse(run: PilotRun) -> AnalysisRun:
    # The analysis runs inline (same worker job): a worker with one slot must not wait for itself.
    analysis = analysis_run_start(
        study=run.study, method=DEFAULT_METHOD, user=run.created_by, pilot_only=True, enqueue=False
    )
    _update(run, analysis_run=analysis)
    analysis_run_execute(run_id=analysis.pk)
    analysis.refresh_from_db()
    if analysis.status != AnalysisRun.Status.DONE:
        raise PilotInvalid(_("The analysis of the pilot failed: %(error)s") % {"error": analysis.error})
    return analysis


# --- Remove -----------------------------------------------------------------------------------
@transaction.atomic
def pilot_data_remove(*, study: Study) -> dict[str, int]:
    """Delete every pilot participant of the study (sessions, trials, ratings follow), the pilot
    runs, their analyses and files; recount the allocation counters. Real data is untouched."""
    Study.objects.select_for_update().filter(pk=study.pk).first()
    counts = pilot_data_counts(study=study)
    counts["trials"] = Trial.objects.filter(session__study=study, session__is_pilot=True).count()
    analyses = AnalysisRun.objects.filter(study=study, pilot_only=True)
    files = [f for files in analyses.values_list("files", flat=True) for f in files or []]
    for plot, report in PilotRun.objects.filter(study=study).values_list("plot", "report"):
        files += [name for name in (plot, ((report or {}).get("modes") or {}).get("plot")) if name]
    counts["analyses"] = analyses.count()
    counts["pilot_runs"] = PilotRun.objects.filter(study=study).count()
    # Sessions first: a pilot session of a non-pilot participant cannot exist, but never leave one.
    RatingSession.objects.filter(study=study, is_pilot=True).delete()
    Participant.objects.filter(study=study, is_pilot=True).delete()
    analyses.delete()
    PilotRun.objects.filter(study=study).delete()
    allocation.stimulus_loads_recount(study_id=study.pk)
    transaction.on_commit(lambda: _delete_files(files))
    return counts


def _delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete pilot file %s", name)


def pilot_base_url(request_base: str = "") -> str:
    """Where the simulated participants connect: PILOT_BASE_URL, else SITE_URL, else the request's host."""
    return getattr(settings, "PILOT_BASE_URL", "") or settings.SITE_URL or request_base
