"""Pilot mode: dry-run a study with simulated participants, analyse them, compare with the truth.

A pilot run (`PilotRun`) drives `ratings.simulator` against the study's own server, through the
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

import csv
import io
import logging
import math
import secrets
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core import signing
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from kombu.exceptions import KombuError

from config.errors import ConflictError, DomainError, JobQueueDown
from experiments.models import Stimulus, Study
from ratings import allocation, simulator
from ratings.models import Participant, PilotRun, Rating, RatingSession, Trial

logger = logging.getLogger(__name__)

Status = PilotRun.Status
TOKEN_SALT = "ratings.pilot-link"
TOKEN_MAX_AGE = 24 * 3600  # seconds: a pilot link outlives no pilot
MAX_RATERS = 500
CONCURRENCY = 8
ACTIVE = (Status.PENDING, Status.RUNNING, Status.ANALYSING)
STALE_AFTER_SECONDS = 30 * 60  # an active pilot older than this does not block a new one
PLOT_NAME = "recovered-vs-true.png"


class PilotInvalid(DomainError):
    code = "pilot_invalid"


class PilotLinkInvalid(DomainError):
    code = "pilot_link_invalid"


class PilotBusy(ConflictError):
    code = "pilot_busy"


class PilotQueueUnavailable(JobQueueDown):
    """The pilot is saved as pending, but its job could not be queued."""

    def __init__(self, run_id: int) -> None:
        super().__init__(
            _(
                "The job queue is unavailable, so pilot %(id)s could not start yet. It is saved and "
                "starts automatically when the queue is back."
            )
            % {"id": run_id}
        )
        self.run_id = run_id


# --- The signed pilot link ----------------------------------------------------------------------
def pilot_token_make(run: PilotRun) -> str:
    return signing.dumps({"study": run.study_id, "run": run.pk}, salt=TOKEN_SALT)


def pilot_token_verify(*, study: Study, token: str) -> PilotRun:
    """The running pilot this study link belongs to; PilotLinkInvalid for anything else
    (bad signature, another study, expired, or a pilot that is not simulating any more)."""
    try:
        data = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        raise PilotLinkInvalid(_("This pilot link is not valid.")) from None
    run_id = data.get("run") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("study") != study.pk or not isinstance(run_id, int):
        raise PilotLinkInvalid(_("This pilot link is not valid."))
    run = PilotRun.objects.filter(pk=run_id, study=study, status=Status.RUNNING).first()
    if run is None:
        raise PilotLinkInvalid(_("This pilot has ended."))
    return run


def panel_query(panel: str, pid: str) -> dict[str, str]:
    """The study-link parameters a panel would send for this participant id."""
    if panel == Study.Panel.PROLIFIC:
        return {"PROLIFIC_PID": pid, "STUDY_ID": "pilot", "SESSION_ID": pid}
    if panel == Study.Panel.MTURK:
        return {"workerId": pid, "assignmentId": f"A-{pid}", "hitId": "pilot"}
    if panel == Study.Panel.LAB:
        return {"invite": pid}
    return {"pid": pid}


# --- Reads ------------------------------------------------------------------------------------
def pilot_run_list(*, study: Study) -> QuerySet[PilotRun]:
    return PilotRun.objects.filter(study=study).select_related("study", "analysis_run").order_by("-id")


def pilot_run_get(*, study: Study, pk: int) -> PilotRun:
    """A pilot of this study (the caller checked access to the study); 404 otherwise."""
    try:
        return pilot_run_list(study=study).get(pk=pk)
    except PilotRun.DoesNotExist:
        raise Http404("No such pilot") from None


def pilot_data_counts(*, study: Study) -> dict[str, int]:
    return {
        "participants": Participant.objects.filter(study=study, is_pilot=True).count(),
        "sessions": RatingSession.objects.filter(study=study, is_pilot=True).count(),
        "ratings": Rating.objects.filter(session__study=study, session__is_pilot=True).count(),
    }


def participants_needed(study: Study, tests: int | None = None) -> dict[str, Any]:
    """How many complete participants reach the study's target number of ratings per stimulus."""
    tests = tests if tests is not None else study.stimuli.filter(role=Stimulus.Role.TEST).count()
    per_session = max(1, min(study.stimuli_per_session, tests or 1))
    if study.allocation_mode == Study.AllocationMode.FULL:
        # Every participant rates every stimulus, over several sessions.
        needed, sessions_each = study.target_ratings, math.ceil(tests / per_session) if tests else 0
    else:
        needed, sessions_each = math.ceil(tests * study.target_ratings / per_session), 1
    return {
        "test_stimuli": tests,
        "target": study.target_ratings,
        "per_session": per_session,
        "participants": needed,
        "sessions_each": sessions_each,
        "mode": study.allocation_mode,
    }


# --- Start --------------------------------------------------------------------------------------
def _check_options(
    raters: int, spammers: float, straightliners: float, abandoners: float, noise: float
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
    enqueue: bool = True,
) -> PilotRun:
    """Create a pending pilot of `raters` simulated participants and enqueue it after commit.

    Works on draft, paused and open studies (not closed ones). One active pilot per study.
    """
    _check_options(raters, spammers, straightliners, abandoners, noise)
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
    from ratings.tasks import pilot_run_execute_task

    try:
        pilot_run_execute_task.delay(run_id)
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
        report = _evaluate(run, analysis)
        plot = _plot(run, report)
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

    population = simulator.Population(
        seed=run.seed,
        spammers=run.spammers,
        straightliners=run.straightliners,
        abandoners=run.abandoners,
        noise_min=run.noise * 0.6,
        noise_max=run.noise * 1.4,
        bias_sd=run.noise * 0.6,
    )
    result = simulator.simulate(
        run.base_url,
        study.slug,
        run.raters,
        population=population,
        concurrency=min(CONCURRENCY, run.raters),
        query=query,
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


def _analyse(run: PilotRun) -> Any:
    # The analysis runs inline (same worker job): a worker with one slot must not wait for itself.
    from analysis.models import AnalysisRun
    from analysis.services import analysis_run_execute, analysis_run_start
    from analysis.stats import DEFAULT_METHOD

    analysis = analysis_run_start(
        study=run.study, method=DEFAULT_METHOD, user=run.created_by, pilot_only=True, enqueue=False
    )
    _update(run, analysis_run=analysis)
    analysis_run_execute(run_id=analysis.pk)
    analysis.refresh_from_db()
    if analysis.status != AnalysisRun.Status.DONE:
        raise PilotInvalid(_("The analysis of the pilot failed: %(error)s") % {"error": analysis.error})
    return analysis


# --- Compare with the planted truth --------------------------------------------------------------
def _mos_rows(analysis: Any) -> dict[int, dict[str, str]]:
    from analysis.selectors import analysis_run_file_name

    with default_storage.open(analysis_run_file_name(run=analysis, relative="mos.csv"), "rb") as fh:
        return {int(row["position"]): row for row in csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"))}


def _float(value: str | None) -> float:
    try:
        return float(value) if value else float("nan")
    except ValueError:
        return float("nan")


def _evaluate(run: PilotRun, analysis: Any) -> dict[str, Any]:
    from analysis.stats.recovery import recovery

    study = run.study
    scale = simulator.Scale(kind=study.scale_kind, min=float(study.scale_min), max=float(study.scale_max))
    keys = list(study.perspectives.order_by("order").values_list("key", flat=True))
    stimuli = list(
        study.stimuli.filter(role=Stimulus.Role.TEST).order_by("position").values_list("pk", "position")
    )
    rows = _mos_rows(analysis)
    perspectives = []
    for key in keys:
        truth = [simulator.planted_truth(run.seed, pk, key, scale) for pk, _pos in stimuli]
        mos = [_float(rows.get(pos, {}).get(f"{key}_mos")) for _pk, pos in stimuli]
        counts = [_float(rows.get(pos, {}).get(f"{key}_n")) for _pk, pos in stimuli]
        r = recovery(truth, mos)
        perspectives.append(
            {
                "key": key,
                "n": r.n,
                "pearson": r.pearson,
                "spearman": r.spearman,
                "rmse": r.rmse,
                "slope": r.slope,
                "intercept": r.intercept,
                "points": [[round(t, 4), m] for t, m in zip(truth, mos, strict=True)],
                "ratings_per_stimulus": _spread(counts),
            }
        )
    screening = _screening(run, analysis)
    report = {
        "method": analysis.method,
        "mapping": "least-squares line from the recovered MOS to the planted truth; RMSE in scale points",
        "scale": {"min": scale.min, "max": scale.max},
        "perspectives": perspectives,
        "screening": screening,
        # Designs with few ratings per stimulus leave BT.500 screening powerless; the analysis says so.
        "screening_warnings": list((analysis.summary or {}).get("screening_warnings", [])),
        "target": _target(run, study, perspectives, screening),
    }
    return _json_safe(report)


def _spread(counts: list[float]) -> dict[str, float]:
    values = np.nan_to_num(np.asarray(counts, dtype=float), nan=0.0)
    if not values.size:
        return {"min": 0, "median": 0, "max": 0}
    return {"min": float(values.min()), "median": float(np.median(values)), "max": float(values.max())}


def _screening(run: PilotRun, analysis: Any) -> dict[str, Any]:
    """Planted kinds against what the analysis and quality control left out."""
    summary = analysis.summary or {}
    pids = [p["pid"] for p in run.planted if p.get("pid")]
    people = {
        ext: (pk, code)
        for pk, code, ext in Participant.objects.filter(
            study=run.study, is_pilot=True, external_id__in=pids
        ).values_list("pk", "code", "external_id")
    }
    rejected = {item["participant"]: item["reason"] for item in summary.get("rejected_raters", [])}
    qc = {item["rater"]: item["reason"] for item in summary.get("quality_control_excluded", [])}
    kinds: dict[str, dict[str, int]] = {}
    raters = []
    for planted in run.planted:
        pk, code = people.get(planted.get("pid", ""), (None, ""))
        reason = rejected.get(pk) or qc.get(code) or ""
        counted = planted.get("answered", 0) > 0
        row = kinds.setdefault(planted["kind"], {"planted": 0, "rated": 0, "caught": 0, "abandoned": 0})
        row["planted"] += 1
        row["rated"] += int(counted)
        row["caught"] += int(bool(reason))
        row["abandoned"] += int(planted.get("outcome") == "abandoned")
        raters.append(
            {
                "code": code,
                "kind": planted["kind"],
                "outcome": planted.get("outcome", ""),
                "answered": planted.get("answered", 0),
                "caught": reason,
            }
        )
    bad = [k for k in (simulator.SPAMMER, simulator.STRAIGHTLINER) if k in kinds]
    return {
        "kinds": kinds,
        "caught_bad": sum(kinds[k]["caught"] for k in bad),
        "planted_bad": sum(kinds[k]["rated"] for k in bad),
        "false_alarms": kinds.get(simulator.HONEST, {}).get("caught", 0),
        "raters": raters,
    }


def _target(
    run: PilotRun, study: Study, perspectives: list[dict[str, Any]], screening: dict[str, Any]
) -> dict[str, Any]:
    plan = participants_needed(study)
    outcomes = (run.simulation or {}).get("outcomes", {})
    started = sum(n for outcome, n in outcomes.items() if outcome not in ("full", "error", "not_started"))
    usable = sum(1 for r in screening["raters"] if r["outcome"] == "completed" and not r["caught"])
    share = usable / started if started else 0.0
    spread = perspectives[0]["ratings_per_stimulus"] if perspectives else {"min": 0}
    return {
        **plan,
        "pilot_started": started,
        "pilot_full": outcomes.get("full", 0),
        "usable_share": share,
        "recruit": math.ceil(plan["participants"] / share) if share else None,
        "pilot_spread": spread,
        "reached_in_pilot": spread["min"] >= study.target_ratings,
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def _plot(run: PilotRun, report: dict[str, Any]) -> str:
    """A scatter plot per perspective: planted truth (x) against recovered MOS (y)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    items = report["perspectives"]
    fig = Figure(figsize=(4.2 * max(1, len(items)), 4.2), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    for k, item in enumerate(items, start=1):
        ax = fig.add_subplot(1, len(items), k)
        pts = np.asarray([(t, m if m is not None else np.nan) for t, m in item["points"]], dtype=float)
        if pts.size:
            ax.scatter(pts[:, 0], pts[:, 1], s=18, color="#4C72B0", alpha=0.8)
            if item["slope"]:
                xs = np.linspace(report["scale"]["min"], report["scale"]["max"], 20)
                # the fitted mapping, drawn in the plot's coordinates (MOS as a function of truth)
                ax.plot(xs, (xs - item["intercept"]) / item["slope"], color="#DD8452", lw=1.2)
        stats = f"r = {_fmt(item['pearson'])}, ρ = {_fmt(item['spearman'])}\nRMSE = {_fmt(item['rmse'])} scale points"
        ax.set_title(f"{item['key']}\n{stats}", fontsize=9)
        ax.set_xlabel("planted true score")
        ax.set_ylabel(f"recovered MOS ({report['method']})")
        ax.grid(alpha=0.3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / PLOT_NAME
        fig.savefig(path, format="png")
        name = f"{run.storage_dir}/{PLOT_NAME}"
        if default_storage.exists(name):
            default_storage.delete(name)
        with path.open("rb") as fh:
            return default_storage.save(name, File(fh, name=PLOT_NAME))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# --- Remove -----------------------------------------------------------------------------------
@transaction.atomic
def pilot_data_remove(*, study: Study) -> dict[str, int]:
    """Delete every pilot participant of the study (sessions, trials, ratings follow), the pilot
    runs, their analyses and files; recount the allocation counters. Real data is untouched."""
    from analysis.models import AnalysisRun

    Study.objects.select_for_update().filter(pk=study.pk).first()
    counts = pilot_data_counts(study=study)
    counts["trials"] = Trial.objects.filter(session__study=study, session__is_pilot=True).count()
    analyses = AnalysisRun.objects.filter(study=study, pilot_only=True)
    files = [f for files in analyses.values_list("files", flat=True) for f in files or []]
    files += [p for p in PilotRun.objects.filter(study=study).values_list("plot", flat=True) if p]
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
