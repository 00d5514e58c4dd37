"""ORM rows -> long-format arrays for the pure core: the only module that knows both worlds.

Ratings are streamed from PostgreSQL with a server-side cursor (``QuerySet.iterator``) into
compact arrays, so memory grows with the number of ratings (32 bytes each), never with
stimuli x raters.

Index spaces, shared by every perspective of a study:

- stimulus ``k`` is the k-th *test* stimulus of the study by ``Stimulus.position``; the rows of
  ``mosz{d}.mat`` follow this order. Positions may be sparse (training or gold stimuli between
  test ones, or an imported subset): row ``k`` then belongs to the k-th smallest test position,
  and ``mos.csv``'s ``position`` column gives the real position;
- rater ``i`` is the i-th participant with at least one counted rating, ordered by the label
  ``raw_ratings.csv`` gives them (their pseudonymous code, or ``panel:external_id``) with
  :func:`analysis.pipeline.typed_order`, the rule ``compute_mos`` applies to that file. One
  participant may have several sessions; all count as one rater.

:func:`study_ratings_load` is the database loader of the one pipeline (:mod:`analysis.pipeline`);
:func:`raw_rating_rows` writes the rows that let ``compute_mos`` reproduce a run
(docs/exports.md).
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models import Q, QuerySet, TextField
from django.db.models.expressions import RawSQL

from analysis.pipeline import AnalysisInput, typed_order
from analysis.pipeline import PerspectiveInfo as PipelinePerspective
from analysis.stats import Ratings
from experiments.models import Perspective, Stimulus, Study
from ratings.devices import viewing_conditions
from ratings.models import Participant, Rating, RatingSession, Trial
from ratings.qc import failures_from_json as qc_failures_from_json

CHUNK_SIZE = 20_000


@dataclass(frozen=True)
class PerspectiveInfo:
    id: int
    key: str
    label: str


@dataclass(frozen=True)
class QcExclusion:
    participant_id: int
    code: str
    reason: str


@dataclass(frozen=True)
class StudyRatings:
    """The counted test ratings of a study, per perspective, with the metadata for exports."""

    perspectives: tuple[PerspectiveInfo, ...]
    stimuli: tuple[dict[str, Any], ...]  # metadata of stimulus index k (position order)
    participant_ids: tuple[int, ...]  # participant id of rater index i
    rater_codes: tuple[str, ...]  # pseudonymous Participant.code of rater index i
    ratings: dict[str, Ratings]  # perspective key -> that perspective's ratings
    qc_excluded: tuple[QcExclusion, ...]
    n_ratings: int
    fingerprint: str
    notes: tuple[str, ...] = field(default=())
    rater_ids: tuple[Any, ...] = field(default=())  # label of rater index i, as in raw_ratings.csv
    scale: tuple[float, float] | None = None

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.perspectives]

    def pipeline_input(self) -> AnalysisInput:
        """These ratings as the input of :func:`analysis.pipeline.analyse`."""
        return AnalysisInput(
            perspectives=tuple(PipelinePerspective(p.key, p.label) for p in self.perspectives),
            stimuli=self.stimuli,
            rater_ids=self.rater_ids or self.rater_codes,
            ratings=self.ratings,
            fingerprint=self.fingerprint,
            scale=self.scale,
            notes=self.notes,
        )


def _pilot_filter(qs: QuerySet[Rating], *, include_pilot: bool, pilot_only: bool) -> QuerySet[Rating]:
    if pilot_only:
        return qs.filter(session__is_pilot=True)
    if not include_pilot:
        return qs.exclude(Q(session__is_pilot=True) | Q(session__participant__is_pilot=True))
    return qs


def _counted_ratings(
    study: Study, *, include_pilot: bool, rating_id_max: int | None, pilot_only: bool = False
) -> QuerySet[Rating]:
    """Ratings that may enter the MOS: test trials on test stimuli, pilot data unless asked
    (or only pilot data: the pilot mode's own analysis)."""
    qs = Rating.objects.filter(session__study=study, kind=Trial.Kind.TEST, stimulus__role=Stimulus.Role.TEST)
    if rating_id_max is not None:
        qs = qs.filter(id__lte=rating_id_max)
    # In id order, the order of raw_ratings.csv: compute_mos on it then sums in the same order
    # (bit-identical results, the MLE too, whose answer is only defined to its tolerance).
    return _pilot_filter(qs, include_pilot=include_pilot, pilot_only=pilot_only).order_by("id")


def qc_failures_by_participant(study: Study) -> dict[int, str]:
    """Participant id -> the reasons of their sessions' quality-control failures."""
    out: dict[int, list[str]] = {}
    sessions = (
        RatingSession.objects.filter(study=study)
        .exclude(qc_failures=[])
        .order_by("participant_id", "number")
        .values_list("participant_id", "qc_failures")
    )
    for participant_id, failures in sessions.iterator(chunk_size=CHUNK_SIZE):
        if failures:
            out.setdefault(participant_id, []).extend(f.describe() for f in qc_failures_from_json(failures))
    return {pid: "quality control: " + "; ".join(reasons) for pid, reasons in out.items()}


def test_stimuli(study: Study) -> list[dict[str, Any]]:
    """Metadata of the study's test stimuli in position order (stimulus index k = entry k)."""
    rows = study.stimuli.filter(role=Stimulus.Role.TEST).order_by("position")
    return [
        {
            "id": s.id,
            "position": s.position,
            "name": s.name,
            "file": s.name,
            "model": s.generator,
            "prompt": s.prompt,
            "categories": dict(s.categories or {}),
        }
        for s in rows.iterator(chunk_size=CHUNK_SIZE)
    ]


def _fingerprint(
    participant: np.ndarray,
    stimulus: np.ndarray,
    perspective: np.ndarray,
    score: np.ndarray,
    stimulus_ids: Sequence[int],
) -> str:
    """SHA-256 over the rating rows sorted, and the stimulus order they are indexed by."""
    order = np.lexsort((score, perspective, stimulus, participant))
    h = hashlib.sha256(f"study-ratings-v1:{len(score)}".encode())
    h.update(np.asarray(stimulus_ids, dtype="<i8").tobytes())
    for arr, dtype in ((participant, "<i8"), (stimulus, "<i8"), (perspective, "<i8"), (score, "<f8")):
        h.update(np.ascontiguousarray(arr[order], dtype=dtype).tobytes())
    return h.hexdigest()


def rater_label(code: str, panel: str, external_id: str | None, *, include_panel_ids: bool) -> str:
    """How ``raw_ratings.csv`` and the result files name a rater."""
    return f"{panel}:{external_id}" if include_panel_ids and external_id else code


def study_ratings_load(
    study: Study,
    *,
    include_pilot: bool = False,
    exclude_qc_failures: bool = True,
    rating_id_max: int | None = None,
    pilot_only: bool = False,
    include_panel_ids: bool = False,
) -> StudyRatings:
    """Read the counted ratings of ``study`` into per-perspective :class:`Ratings`.

    Raises ``ValueError`` with a message for the researcher when nothing can be analysed.
    """
    perspectives = tuple(
        PerspectiveInfo(p.id, p.key, p.label)
        for p in Perspective.objects.filter(study=study).order_by("order")
    )
    if not perspectives:
        raise ValueError("The study has no perspectives to analyse.")
    stimuli = tuple(test_stimuli(study))
    if not stimuli:
        raise ValueError("The study has no test stimuli.")
    qc = qc_failures_by_participant(study) if exclude_qc_failures else {}

    pid, sid, vid = array("q"), array("q"), array("q")
    score = array("d")
    rows = _counted_ratings(
        study, include_pilot=include_pilot, rating_id_max=rating_id_max, pilot_only=pilot_only
    )
    for participant_id, stimulus_id, perspective_id, value in rows.values_list(
        "session__participant_id", "stimulus_id", "perspective_id", "score"
    ).iterator(chunk_size=CHUNK_SIZE):
        pid.append(participant_id)
        sid.append(stimulus_id)
        vid.append(perspective_id)
        score.append(value)
    p_arr, s_arr, v_arr = (np.frombuffer(a, dtype=np.int64) for a in (pid, sid, vid))
    x_arr = np.frombuffer(score, dtype=np.float64)
    if x_arr.size == 0:
        raise ValueError(
            "There are no test ratings to analyse yet"
            + ("" if include_pilot else " (pilot data is left out unless included)")
            + "."
        )

    excluded_ids = np.fromiter(qc, dtype=np.int64, count=len(qc))
    qc_rows = np.isin(p_arr, excluded_ids)
    qc_excluded = _qc_exclusions(qc, np.unique(p_arr[qc_rows]))
    keep = ~qc_rows
    p_arr, s_arr, v_arr, x_arr = p_arr[keep], s_arr[keep], v_arr[keep], x_arr[keep]
    if x_arr.size == 0:
        raise ValueError("Every rater failed quality control; no ratings are left to analyse.")

    stimulus_ids = np.asarray([s["id"] for s in stimuli], dtype=np.int64)
    by_id = np.unique(p_arr)
    people = {
        pk: (code, rater_label(code, panel, ext, include_panel_ids=include_panel_ids))
        for pk, code, panel, ext in Participant.objects.filter(id__in=by_id.tolist()).values_list(
            "id", "code", "panel", "external_id"
        )
    }
    # Raters in the order compute_mos gives the labels of raw_ratings.csv (same rows, same splits).
    label_order, labels = typed_order([people[int(i)][1] for i in by_id])
    participant_ids = by_id[label_order]
    position_of = np.empty(by_id.size, dtype=np.intp)
    position_of[label_order] = np.arange(by_id.size)
    rater = position_of[np.searchsorted(by_id, p_arr)]
    order = np.argsort(stimulus_ids, kind="stable")
    stim_index = order[np.searchsorted(stimulus_ids[order], s_arr)]
    per: dict[str, Ratings] = {}
    notes: list[str] = []
    for p in perspectives:
        mask = v_arr == p.id
        if not mask.any():
            notes.append(f"perspective {p.key} has no ratings; it is left out")
            continue
        per[p.key] = Ratings.from_arrays(
            rater=rater[mask],
            stimulus=stim_index[mask],
            score=x_arr[mask],
            n_raters=participant_ids.size,
            n_stimuli=len(stimuli),
        )
    return StudyRatings(
        perspectives=tuple(p for p in perspectives if p.key in per),
        stimuli=stimuli,
        participant_ids=tuple(int(i) for i in participant_ids),
        rater_codes=tuple(people[int(i)][0] for i in participant_ids),
        rater_ids=tuple(labels),
        scale=(float(study.scale_min), float(study.scale_max)),
        ratings=per,
        qc_excluded=qc_excluded,
        n_ratings=int(x_arr.size),
        fingerprint=_fingerprint(p_arr, s_arr, v_arr, x_arr, stimulus_ids.tolist()),
        notes=tuple(notes),
    )


def _qc_exclusions(qc: dict[int, str], participant_ids: np.ndarray) -> tuple[QcExclusion, ...]:
    if participant_ids.size == 0:
        return ()
    codes = dict(Participant.objects.filter(id__in=participant_ids.tolist()).values_list("id", "code"))
    return tuple(QcExclusion(int(i), codes[int(i)], qc[int(i)][:200]) for i in participant_ids.tolist())


RAW_FIELDS = (
    "session__participant_id",
    "session__participant__code",
    "session__participant__external_id",
    "session__participant__panel",
    "session__participant__is_pilot",
    "session__is_pilot",
    "session__number",
    "stimulus__position",
    "stimulus__name",
    "stimulus__role",
    "perspective__key",
    "score",
    "kind",
    "trial_index",
    "viewing_ms",
    "response_ms",
    "client_time_text",
    "server_time_text",
    "language",
    "session_id",
)


def _iso_utc(column: str) -> RawSQL:
    """Rating's timestamp ``column`` as the text ``datetime.isoformat()`` gives for it in UTC,
    the time zone Django reads timestamps in (USE_TZ): microseconds only when not zero,
    ``+00:00``; NULL stays NULL (an empty cell).

    Formatted by PostgreSQL because reading 144,000 timestamps through Django's Python loader
    and formatting them again took over a second of an analysis job.
    """
    col = f'"{Rating._meta.db_table}"."{column}"'  # the fields have no db_column
    utc = f"({col} AT TIME ZONE 'UTC')"
    return RawSQL(
        f"""CASE WHEN {col} IS NULL THEN NULL ELSE to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS')"""
        f" || CASE WHEN to_char({utc}, 'US') = '000000' THEN '' ELSE to_char({utc}, '.US') END"
        " || '+00:00' END",
        (),
        output_field=TextField(),
    )


def raw_rating_rows(
    study: Study,
    *,
    include_pilot: bool = False,
    rating_id_max: int | None = None,
    include_panel_ids: bool = False,
    pilot_only: bool = False,
    exclude_qc_failures: bool = True,
    perspectives: Sequence[str] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Every rating of the study (all trial kinds) as rows of ``exports.RAW_COLUMNS``, streamed.

    ``rater`` is the pseudonymous participant code, or ``panel:external_id`` when asked;
    ``session`` the participant's session number; ``stimulus`` the stimulus position;
    ``role`` the trial kind (test, training, gold, repeat, trap); ``qc_excluded`` whether the
    participant failed a quality-control check; ``pilot`` whether the rating comes from a pilot;
    ``in_analysis`` whether the run with these options counted the rating, the same rule as
    :func:`study_ratings_load` (``perspectives``: the keys that run analysed). ``compute_mos``
    analyses the rows with ``in_analysis=true`` by default (docs/exports.md).
    """
    qs = Rating.objects.filter(session__study=study)
    if rating_id_max is not None:
        qs = qs.filter(id__lte=rating_id_max)
    qs = _pilot_filter(qs, include_pilot=include_pilot, pilot_only=pilot_only)
    failed = set(qc_failures_by_participant(study))
    counted = set(perspectives) if perspectives is not None else None
    test_kind, test_role = Trial.Kind.TEST, Stimulus.Role.TEST
    rows = (
        qs.annotate(
            client_time_text=_iso_utc("client_time"),
            server_time_text=_iso_utc("server_time"),
        )
        .order_by("id")
        .values_list(*RAW_FIELDS)
        .iterator(chunk_size=CHUNK_SIZE)
    )
    conditions = {
        pk: viewing_conditions(device)
        for pk, device in RatingSession.objects.filter(study=study).values_list("pk", "device")
    }
    for (
        pid,
        code,
        ext,
        panel,
        p_pilot,
        s_pilot,
        number,
        position,
        name,
        role,
        key,
        value,
        kind,
        trial_index,
        viewing,
        response,
        client_time,
        server_time,
        language,
        session_id,
    ) in rows:
        qc_failed = pid in failed
        used = (
            kind == test_kind
            and role == test_role
            and not (exclude_qc_failures and qc_failed)
            and (counted is None or key in counted)
        )
        rater = rater_label(code, panel, ext, include_panel_ids=include_panel_ids)
        yield (
            rater,
            number,
            position,
            name,
            key,
            value,
            kind,
            used,
            qc_failed,
            p_pilot or s_pilot,
            trial_index,
            viewing,
            response,
            client_time,
            server_time,
            language,
            *(conditions.get(session_id) or viewing_conditions({})),
        )
