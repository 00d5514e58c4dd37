"""Reads of the ratings: the participant flow's, and the study progress other apps ask for.

The researcher's dashboard and study list (`experiments`) read the rating tables through the
functions below, never directly: what counts as a valid rating is decided here only.
"""

import functools
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Count, Model, OuterRef, Q, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from analysis.stats.rich import tokenize_prompt
from config.db import execute_prepared
from experiments.models import AnnotationTask, Perspective, Stimulus, Study, image_ext_of
from ratings import allocation, precision, qc
from ratings.allocation import on_postgres
from ratings.models import Participant, Rating, RatingSession, Trial
from ratings.participants import stall_after

S = RatingSession.Status
IN_PROGRESS = [S.CONSENT, S.QUESTIONNAIRE, S.DISPLAY_CHECK, S.INSTRUCTIONS, S.TRAINING, S.RATING]


def study_get_public(*, slug: str) -> Study:
    """The study of a participant link (every entry and consent request): a prepared statement on
    PostgreSQL, as `session_get`."""
    if not on_postgres():
        try:
            return Study.objects.get(slug=slug)
        except Study.DoesNotExist:
            raise Http404("No such study") from None
    rows = execute_prepared(_study_by_slug_sql(), [slug])
    if not rows:
        raise Http404("No such study")
    return model_from_row(Study, rows[0])


@functools.cache
def _study_by_slug_sql() -> str:
    return f"SELECT {sql_columns(Study, 'st')} FROM {Study._meta.db_table} st WHERE st.slug = %s"  # noqa: S608


def sql_columns(model: type[Model], alias: str) -> str:
    """The model's concrete columns as `alias."column"`, in `model_from_row`'s order."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def session_get(*, slug: str, token: str) -> RatingSession:
    """The session of this token in this study, with its study and participant; 404 for anything
    else (the token is the key). Every participant page reads it: hand-written SQL on PostgreSQL
    (the ORM's select_related query cost more to compile than to run)."""
    if not on_postgres():
        try:
            return RatingSession.objects.select_related("study", "participant").get(
                token=token, study__slug=slug
            )
        except RatingSession.DoesNotExist:
            raise Http404("No such session") from None
    rows = execute_prepared(_session_get_sql(), [token, slug])
    if not rows:
        raise Http404("No such session")
    session, at = session_with_study_from_row(rows[0])
    RatingSession.participant.field.set_cached_value(session, model_from_row(Participant, rows[0][at:]))
    return session


def session_with_study_from_row(row: Sequence[Any]) -> tuple[RatingSession, int]:
    """The session of a row that starts with its columns and its study's (`sql_columns`), with the
    study attached, and where the row's further columns start."""
    n_session = len(RatingSession._meta.concrete_fields)
    at = n_session + len(Study._meta.concrete_fields)
    session = model_from_row(RatingSession, row[:n_session])
    RatingSession.study.field.set_cached_value(session, model_from_row(Study, row[n_session:at]))
    return session, at


@functools.cache
def _session_get_sql() -> str:
    return (
        f"SELECT {sql_columns(RatingSession, 's')}, {sql_columns(Study, 'st')}, {sql_columns(Participant, 'p')} "  # noqa: S608
        f"FROM {RatingSession._meta.db_table} s JOIN {Study._meta.db_table} st ON st.id = s.study_id "
        f"JOIN {Participant._meta.db_table} p ON p.id = s.participant_id WHERE s.token = %s AND st.slug = %s"
    )


def model_from_row(model: type[Model], values: Sequence[Any]) -> Any:
    """An instance of `model` from its concrete columns' values in order, as a query returns them
    (PostgreSQL: JSON columns arrive as text and are decoded by their field)."""
    fields = model._meta.concrete_fields
    converted = [
        f.from_db_value(v, None, connection) if v is not None and hasattr(f, "from_db_value") else v
        for f, v in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def participant_latest_session(*, study: Study, panel: str, external_id: str) -> RatingSession | None:
    """The panel id's latest session in the study (every consent asks: a prepared statement on
    PostgreSQL)."""
    if not on_postgres():
        return (
            RatingSession.objects.filter(
                participant__study=study, participant__panel=panel, participant__external_id=external_id
            )
            .order_by("-number")
            .first()
        )
    rows = execute_prepared(_latest_session_sql(), [study.pk, panel, external_id])
    return model_from_row(RatingSession, rows[0]) if rows else None


@functools.cache
def _latest_session_sql() -> str:
    return (
        f"SELECT {sql_columns(RatingSession, 's')} FROM {RatingSession._meta.db_table} s "  # noqa: S608
        f"JOIN {Participant._meta.db_table} p ON p.id = s.participant_id "
        "WHERE p.study_id = %s AND p.panel = %s AND p.external_id = %s ORDER BY s.number DESC LIMIT 1"
    )


def perspectives_for_trial(*, study: Study) -> list[dict[str, Any]]:
    """The perspectives as the trial page shows them: question and one description per level
    (every trial page asks: a prepared statement on PostgreSQL)."""
    columns = ("key", "label", "question", "level_descriptions")
    if on_postgres():
        rows = execute_prepared(_ordered_sql(Perspective, columns), [study.pk])
    else:
        rows = list(Perspective.objects.filter(study=study).order_by("order").values_list(*columns))
    return [
        {"key": key, "label": label, "question": question, "levels": list(_json(levels))}
        for key, label, question, levels in rows
    ]


def annotation_tasks_for_trial(*, study: Study) -> list[dict[str, Any]]:
    """The study's annotation tasks as the trial page shows them, in order (as above)."""
    columns = ("key", "kind", "label", "instructions")
    if on_postgres():
        rows = execute_prepared(_ordered_sql(AnnotationTask, columns), [study.pk])
    else:
        rows = list(AnnotationTask.objects.filter(study=study).order_by("order").values_list(*columns))
    return [dict(zip(columns, row, strict=True)) for row in rows]


@functools.cache
def _ordered_sql(model: type[Model], columns: tuple[str, ...]) -> str:
    """A study's rows of `model` (these columns), in their order."""
    names = ", ".join(f'"{c}"' for c in columns)
    return f'SELECT {names} FROM {model._meta.db_table} WHERE study_id = %s ORDER BY "order"'  # noqa: S608


def _json(value: Any) -> Any:
    """A JSON column's value as read by hand-written SQL on PostgreSQL (text), or by the ORM."""
    return json.loads(value) if isinstance(value, str) else value


def scale_levels(study: Study) -> list[dict[str, Any]]:
    """[{value, label}] of an integer scale: a label per level when the study gives one each."""
    values = list(range(study.scale_min, study.scale_max + 1))
    labels = [str(label) for label in study.scale_labels or []]
    if len(labels) == len(values):
        return [{"value": v, "label": label} for v, label in zip(values, labels, strict=True)]
    ends = {values[0]: labels[0], values[-1]: labels[-1]} if len(labels) >= 2 else {}
    return [{"value": v, "label": ends.get(v, "")} for v in values]


def session_trials(*, session: RatingSession, start: int = 0) -> QuerySet[Trial]:
    return (
        Trial.objects.filter(session=session, index__gte=start).select_related("stimulus").order_by("index")
    )


def trial_payload(trial: Trial) -> dict[str, Any]:
    """What the page needs to show a trial (the next one, in a submission's answer): `page_payload`
    of the model."""
    stimulus = trial.stimulus
    page_trial = PageTrial(
        index=trial.index,
        kind=trial.kind,
        stimulus_id=stimulus.pk,
        prompt_shown=trial.prompt_shown,
        sha256=stimulus.sha256,
        image_ext=stimulus.image_ext,
        width=stimulus.width,
        height=stimulus.height,
        reference=stimulus.reference_scores if trial.kind == Trial.Kind.TRAINING else None,
    )
    return page_payload(page_trial, image_url_builder())


@dataclass(frozen=True)
class PageTrial:
    """A trial as the trial page reads it: plain values, no model instances (building a Trial and
    a Stimulus per trial, and compiling their query, cost a 100-trial page more than the rest)."""

    index: int
    kind: str
    stimulus_id: int
    prompt_shown: str
    sha256: str
    image_ext: str
    width: int
    height: int
    reference: Any  # a training trial's reference answers (decoded), else None

    @property
    def image_url(self) -> str:
        return image_url_builder()(self.sha256, self.image_ext)


@functools.cache
def _page_trials_sql() -> str:
    return (
        'SELECT t."index", t.kind, t.stimulus_id, t.prompt_shown, s.sha256, s.image, s.width, s.height, '
        "CASE WHEN t.kind = %s THEN s.reference_scores END "
        f"FROM {Trial._meta.db_table} t JOIN {Stimulus._meta.db_table} s ON s.id = t.stimulus_id "  # noqa: S608
        'WHERE t.session_id = %s ORDER BY t."index"'
    )


def page_trials(*, session: RatingSession) -> list[PageTrial]:
    """Every trial of the session in order, with what the page shows of its stimulus (one query)."""
    rows = execute_prepared(_page_trials_sql(), [Trial.Kind.TRAINING, session.pk])
    return [
        PageTrial(
            index=index,
            kind=kind,
            stimulus_id=stimulus_id,
            prompt_shown=prompt,
            sha256=sha256,
            image_ext=image_ext_of(image),
            width=width,
            height=height,
            reference=_json(reference),
        )
        for index, kind, stimulus_id, prompt, sha256, image, width, height, reference in rows
    ]


def page_payload(trial: PageTrial, url: Callable[[str, str], str]) -> dict[str, Any]:
    """What the page needs to show a trial, with `url` from `image_url_builder`. Training trials
    carry their reference answers; gold references never leave the server."""
    data: dict[str, Any] = {
        "index": trial.index,
        "kind": trial.kind,
        "stimulus": trial.stimulus_id,
        "url": url(trial.sha256, trial.image_ext),
        "width": trial.width,
        "height": trial.height,
        "prompt": trial.prompt_shown,
        # The words task's toggles: the analysis reads marks as indices into these tokens.
        "tokens": tokenize_prompt(trial.prompt_shown),
    }
    if trial.kind == Trial.Kind.TRAINING and trial.reference:
        data["reference"] = trial.reference
    return data


def image_url_builder() -> Callable[[str, str], str]:
    """(sha256, extension) -> ``Stimulus.image_url``, with one URL reversal per call of this
    function instead of one per image (the page of a 100-trial session reversed a hundred URLs)."""
    probe_hash, probe_ext = "0" * 64, "png"
    template = reverse("stimulus-image", kwargs={"sha256": probe_hash, "ext": probe_ext})
    head, _, tail = template.partition(probe_hash)
    if not tail.endswith(probe_ext):  # a URL shape this does not know: the slow way
        return lambda sha256, ext: reverse("stimulus-image", kwargs={"sha256": sha256, "ext": ext})
    tail = tail[: -len(probe_ext)]
    return lambda sha256, ext: f"{head}{sha256}{tail}{ext}"


def seen_stimulus_ids(*, participant: Participant) -> list[int]:
    """Every stimulus this participant was given in any session (never given twice)."""
    return list(
        Trial.objects.filter(session__participant=participant)
        .values_list("stimulus_id", flat=True)
        .distinct()
    )


def session_message(status: str) -> str:
    messages: dict[str, str] = {
        RatingSession.Status.DECLINED: _("You chose not to take part. Thank you for your time."),
        RatingSession.Status.SCREENED_OUT: _(
            "Thank you. Unfortunately this session cannot continue: some control answers did not match."
        ),
    }
    return messages.get(status, "")


def session_get_by_token(*, token: str) -> RatingSession:
    try:
        return RatingSession.objects.select_related("study").get(token=token)
    except RatingSession.DoesNotExist:
        raise Http404("No such session") from None


def participants_excluded(*, study: Study) -> QuerySet[Participant]:
    """Real participants excluded by the latest analysis of real data (their ratings are not valid
    and their stimuli were allocated again), with the reason in `excluded_reason`."""
    return Participant.objects.filter(study=study, is_pilot=False).exclude(excluded_reason="").order_by("pk")


# --- Study progress (the researcher's dashboard and study list) ---------------------------------
def valid_trials(*, study: Study) -> QuerySet[Trial]:
    """Answered test trials that count towards the target (no pilots, exclusions or screen-outs)."""
    return Trial.objects.filter(
        session__study=study,
        kind=Trial.Kind.TEST,
        answered_at__isnull=False,
        session__is_pilot=False,
        session__participant__excluded_reason="",
    ).exclude(session__status=S.SCREENED_OUT)


def valid_trial_count_per_study(*, study: OuterRef) -> QuerySet[Any, dict[str, Any]]:
    """The number of valid trials of the outer query's study (`study=OuterRef("pk")`), as a
    one-value subquery: the rule of `valid_trials`, for every listed study at once."""
    return (
        Trial.objects.filter(
            session__study=study,
            kind=Trial.Kind.TEST,
            answered_at__isnull=False,
            session__is_pilot=False,
            session__participant__excluded_reason="",
        )
        .exclude(session__status=S.SCREENED_OUT)
        .order_by()
        .values("session__study")
        .annotate(n=Count("id"))
        .values("n")
    )


def valid_ratings(*, study: Study) -> QuerySet[Rating]:
    """Test ratings that count towards the target, per perspective (as valid_trials)."""
    return Rating.objects.filter(
        session__study=study,
        kind=Trial.Kind.TEST,
        stimulus__role=Stimulus.Role.TEST,
        session__is_pilot=False,
        session__participant__excluded_reason="",
    ).exclude(session__status=S.SCREENED_OUT)


def study_has_real_ratings(*, study: Study) -> bool:
    """True once any real participant has rated (pilot data does not count)."""
    return Rating.objects.filter(session__study=study, session__is_pilot=False).exists()


def study_session_counts(*, study: Study) -> dict[str, int]:
    """Real sessions by state, in one query; live sessions idle for `stall_after` are `stalled`."""
    stalled = Q(status__in=IN_PROGRESS, last_seen_at__lt=timezone.now() - stall_after(study))
    return RatingSession.objects.filter(study=study, is_pilot=False).aggregate(
        started=Count("id"),
        in_progress=Count("id", filter=Q(status__in=IN_PROGRESS) & ~stalled),
        stalled=Count("id", filter=stalled),
        completed=Count("id", filter=Q(status=S.COMPLETED)),
        screened_out=Count("id", filter=Q(status=S.SCREENED_OUT)),
        declined=Count("id", filter=Q(status=S.DECLINED)),
        expired=Count("id", filter=Q(status=S.EXPIRED)),
    )


def study_participant_count(*, study: Study) -> int:
    return Participant.objects.filter(study=study, is_pilot=False).count()


def valid_trial_count_since(*, study: Study, since: datetime) -> int:
    return valid_trials(study=study).filter(answered_at__gte=since).count()


def valid_rating_histogram(*, study: Study, target: int) -> tuple[dict[int, int], int]:
    """({valid ratings, capped at target: test stimuli}, valid ratings in all), in one query.

    The histogram is counted in SQL (a bincount over per-stimulus counts): a study with 100,000
    stimuli returns a few dozen rows, not 100,000.
    """
    if not on_postgres():
        return _valid_rating_histogram_portable(study, target)
    trials_sql, params = (
        valid_trials(study=study).values("stimulus_id").annotate(n=Count("id")).query.sql_with_params()
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
    return {int(b): int(n) for b, n, _ in rows}, sum(int(total or 0) for _, _, total in rows)


def _valid_rating_histogram_portable(study: Study, target: int) -> tuple[dict[int, int], int]:
    """The same through the ORM, for the SQLite fallback of scripts/run (small studies only)."""
    per = dict(
        valid_trials(study=study)
        .values("stimulus_id")
        .annotate(n=Count("id"))
        .values_list("stimulus_id", "n")
    )
    ids = Stimulus.objects.filter(study=study, role=Stimulus.Role.TEST).values_list("pk", flat=True)
    counts: dict[int, int] = {}
    ratings = 0
    for pk in ids:
        n = per.get(pk, 0)
        ratings += n
        counts[min(n, target)] = counts.get(min(n, target), 0) + 1
    return counts, ratings


def median_response_ms(*, study: Study) -> float | None:
    """The median answer time of real test ratings."""
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


def qc_failure_counts(*, study: Study) -> tuple[int, dict[str, int]]:
    """Real sessions with any quality-control failure, and failures by kind (ratings.qc.QcFailure)."""
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


def perspective_rating_counts(*, study: Study, target: int) -> dict[int, list[int]]:
    """{perspective id: [valid ratings, ratings capped at target per stimulus, stimuli at target,
    stimuli rated, fewest ratings of a rated stimulus]}.

    One GROUP BY over (stimulus, perspective) counts, folded per perspective in SQL: a few rows
    whatever the number of stimuli.
    """
    per_pair = valid_ratings(study=study).values("stimulus_id", "perspective_id").annotate(n=Count("id"))
    if on_postgres():
        pair_sql, params = per_pair.query.sql_with_params()
        sql = f"""
            SELECT c.perspective_id, SUM(c.n), SUM(LEAST(c.n, %s)), COUNT(*) FILTER (WHERE c.n >= %s),
                   COUNT(*), MIN(c.n)
            FROM ({pair_sql}) c GROUP BY c.perspective_id
        """
        with connection.cursor() as cursor:
            cursor.execute(sql, [target, target, *params])
            return {int(r[0]): [int(v or 0) for v in r[1:]] for r in cursor.fetchall()}
    rows: dict[int, list[int]] = {}
    for item in per_pair:
        n = item["n"]
        row = rows.setdefault(item["perspective_id"], [0, 0, 0, 0, n])
        row[0] += n
        row[1] += min(n, target)
        row[2] += n >= target
        row[3] += 1
        row[4] = min(row[4], n)
    return rows


def usable_share(*, study: Study) -> float | None:
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


# Upper edges of the bins of projected half-width / target (worst perspective); the last is open.
RATIO_EDGES = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)


def precision_progress(*, study: Study) -> dict[str, Any] | None:
    """Where a precision study stands: projected interval half-widths against the targets, the
    images per state, and the ratings still needed (ratings.precision, on the allocation's own
    counters and sums). None for other modes, or before the study has counters."""
    if study.allocation_mode != Study.AllocationMode.PRECISION:
        return None
    try:
        perspective_ids, target = allocation.precision_target(study)
    except ValueError:  # a perspective without a target (set outside the settings form)
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
