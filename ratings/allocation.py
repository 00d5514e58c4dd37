"""Which stimuli a session gets, and in which order.

Balanced mode keeps one counter row per test stimulus (`StimulusLoad.load`: live assignments plus
valid answered trials). A session start takes the `count` lowest loads below the study's target
(random among equals: `shuffle` is re-drawn on every pick, so the index on (study, load, shuffle)
breaks ties at random) and increments them, under the study's advisory transaction lock.

Why a study lock and not `FOR UPDATE SKIP LOCKED` on the counters: with SKIP LOCKED, a pick ordered
on a statement snapshot can take a row that another start committed a moment earlier, and loads
drift two apart under load (seen in the 12-thread test). Under the lock each pick sees every earlier
pick committed, so loads never differ by more than one. The pick is committed in a transaction of
its own (ratings.services.stimulus_loads_claim): the lock is held for the choice only, never while a
session's trials are inserted.

Lock order, the same everywhere (no deadlock): the study lock, then session rows, then counter
rows in stimulus id order. Session starts and recounts take the study lock and then counters;
submissions, resumes and expiry lock their session rows and then counters; every statement that
locks several counters locks them ordered by stimulus id (`balanced_pick`, `loads_change`,
`stimulus_loads_recount`).

`stimulus_loads_recount` rebuilds the counters from the trials (after an analysis excluded
participants: their stimuli become needed again), under the same lock.
"""

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.db.models import F
from django.db.models.functions import Greatest

from experiments.models import Stimulus, Study

# Namespace of the advisory locks taken on behalf of a study (the second key is the study id).
LOCK_NAMESPACE = 7301
ENSURE_EVERY_SECONDS = 60


def on_postgres() -> bool:
    """The SQL here is PostgreSQL's; the SQLite fallback of `scripts/run` gets plain ORM versions."""
    return connection.vendor == "postgresql"


def _portable_loads_ensure(study_id: int) -> None:
    from ratings.models import StimulusLoad

    test_ids = Stimulus.objects.filter(study_id=study_id, role=Stimulus.Role.TEST).values_list(
        "pk", flat=True
    )
    StimulusLoad.objects.bulk_create(
        [StimulusLoad(stimulus_id=pk, study_id=study_id, load=0) for pk in test_ids], ignore_conflicts=True
    )
    StimulusLoad.objects.filter(study_id=study_id).exclude(stimulus__role=Stimulus.Role.TEST).delete()


def _portable_pick(*, study: Study, count: int, exclude: Sequence[int]) -> dict[int, str]:
    from ratings.models import StimulusLoad

    rows = list(
        StimulusLoad.objects.filter(study=study, load__lt=study.target_ratings)
        .exclude(stimulus_id__in=list(exclude))
        .order_by("load", "shuffle")
        .values_list("stimulus_id", "stimulus__prompt")[:count]
    )
    for stimulus_id, _prompt in rows:
        StimulusLoad.objects.filter(stimulus_id=stimulus_id).update(
            load=F("load") + 1, shuffle=random.random()
        )
    return dict(rows)


def _portable_recount(*, study_id: int) -> None:
    from ratings.models import RatingSession, StimulusLoad, Trial

    counts: dict[int, int] = {}
    trials = Trial.objects.filter(
        session__study_id=study_id,
        kind=Trial.Kind.TEST,
        session__is_pilot=False,
        session__participant__excluded_reason="",
    ).exclude(session__status=RatingSession.Status.SCREENED_OUT)
    live = list(RatingSession.LIVE_STATUSES)
    for stimulus_id, answered_at, status in trials.values_list(
        "stimulus_id", "answered_at", "session__status"
    ):
        if answered_at is not None or status in live:
            counts[stimulus_id] = counts.get(stimulus_id, 0) + 1
    for load in StimulusLoad.objects.filter(study_id=study_id):
        StimulusLoad.objects.filter(pk=load.pk).update(load=counts.get(load.stimulus_id, 0))


@dataclass
class Item:
    """One presentation before it becomes a Trial row."""

    stimulus_id: int
    prompt: str  # the stimulus' own prompt
    prompt_shown: str
    kind: str
    repetition: int = 0
    reference: dict | None = None

    @property
    def prompts(self) -> set[str]:
        return {self.prompt, self.prompt_shown}


def study_lock(study_id: int) -> None:
    """Serialise allocations (and recounts) of one study until the transaction ends."""
    if not on_postgres():
        return  # SQLite (the no-PostgreSQL fallback) lets one writer in at a time anyway
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, study_id])


def stimulus_loads_ensure(study_id: int, *, force: bool = False) -> None:
    """Give every test stimulus of the study a counter row, and only those (at most once a minute per process).

    No ANALYZE here (this runs on the participant's request path): `balanced_pick` reads the
    counters in an order that does not depend on the table's statistics.
    """
    key = f"ratings:loads-ensured:{study_id}"
    if not force and cache.get(key):
        return
    if not on_postgres():
        _portable_loads_ensure(study_id)
        cache.set(key, True, ENSURE_EVERY_SECONDS)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO ratings_stimulusload (stimulus_id, study_id, load, shuffle)
            SELECT id, study_id, 0, random() FROM experiments_stimulus
            WHERE study_id = %s AND role = %s
            ON CONFLICT (stimulus_id) DO NOTHING
            """,
            [study_id, Stimulus.Role.TEST],
        )
        cursor.execute(
            """
            DELETE FROM ratings_stimulusload l USING experiments_stimulus s
            WHERE l.study_id = %s AND s.id = l.stimulus_id AND s.role <> %s
            """,
            [study_id, Stimulus.Role.TEST],
        )
    cache.set(key, True, ENSURE_EVERY_SECONDS)


def balanced_pick(*, study: Study, count: int, exclude: Sequence[int]) -> dict[int, str]:
    """Claim up to `count` test stimuli with the lowest loads below target, never one in `exclude`.

    Call inside the allocation transaction, after `study_lock`. Fewer come back when too few are
    still needed (no over-allocation). Returns {stimulus id: prompt}.

    The choice reads without locking (the study lock serialises picks); the chosen counters are
    then locked in stimulus id order, the order of every other writer of counters, and a counter
    that reached the target meanwhile (a resumed session took it back) is not taken.
    """
    if not on_postgres():
        return _portable_pick(study=study, count=count, exclude=exclude)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH chosen AS (
                SELECT stimulus_id FROM ratings_stimulusload
                WHERE study_id = %s AND load < %s AND NOT (stimulus_id = ANY(%s::bigint[]))
                ORDER BY load, shuffle
                LIMIT %s
            ), locked AS (
                SELECT l.stimulus_id FROM ratings_stimulusload l
                WHERE l.stimulus_id IN (SELECT stimulus_id FROM chosen)
                ORDER BY l.stimulus_id
                FOR UPDATE
            )
            UPDATE ratings_stimulusload u SET load = u.load + 1, shuffle = random()
            FROM locked
            WHERE u.stimulus_id = locked.stimulus_id AND u.load < %s
            RETURNING u.stimulus_id, (SELECT prompt FROM experiments_stimulus WHERE id = u.stimulus_id)
            """,
            [study.pk, study.target_ratings, list(exclude), count, study.target_ratings],
        )
        return dict(cursor.fetchall())


def full_pick(*, study: Study, count: int, exclude: Sequence[int], rng: random.Random) -> dict[int, str]:
    """The next `count` test stimuli this participant has not seen, in random order (full mode)."""
    rows = list(
        Stimulus.objects.filter(study=study, role=Stimulus.Role.TEST)
        .exclude(pk__in=list(exclude))
        .values_list("pk", "prompt")
    )
    rng.shuffle(rows)
    chosen = dict(rows[:count])
    loads_change(list(chosen), +1)
    return chosen


def loads_change(stimulus_ids: Sequence[int], delta: int) -> None:
    """Add `delta` to the counters of these (distinct) stimuli."""
    loads_add({pk: delta for pk in stimulus_ids})


def loads_add(deltas: Mapping[int, int]) -> None:
    """Add deltas[stimulus id] to each counter in one statement, locking them in id order.

    One statement, not one per distinct delta: two statements would each lock in id order but
    together not (ids 5, 9 then 3), and deadlock against another writer taking 3 then 5.
    """
    deltas = {pk: d for pk, d in deltas.items() if d}
    if not deltas:
        return
    if not on_postgres():
        from ratings.models import StimulusLoad

        for stimulus_id in sorted(deltas):
            StimulusLoad.objects.filter(stimulus_id=stimulus_id).update(
                load=Greatest(F("load") + deltas[stimulus_id], 0)
            )
        return
    ids = sorted(deltas)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE ratings_stimulusload u SET load = GREATEST(u.load + d.delta, 0)
            FROM (SELECT stimulus_id FROM ratings_stimulusload WHERE stimulus_id = ANY(%s::bigint[])
                  ORDER BY stimulus_id FOR UPDATE) locked,
                 unnest(%s::bigint[], %s::int[]) AS d(stimulus_id, delta)
            WHERE u.stimulus_id = locked.stimulus_id AND d.stimulus_id = locked.stimulus_id
            """,
            [ids, ids, [deltas[pk] for pk in ids]],
        )


def stimulus_loads_recount(*, study_id: int) -> None:
    """Rebuild the study's counters from its trials. Call in a transaction.

    Counts answered test trials of participants who are not excluded, in sessions that were not
    screened out, plus unanswered test trials of live sessions. Pilot sessions never count.
    """
    from ratings.models import RatingSession, Trial

    study_lock(study_id)
    stimulus_loads_ensure(study_id, force=True)
    if not on_postgres():
        _portable_recount(study_id=study_id)
        return
    live = list(RatingSession.LIVE_STATUSES)
    with connection.cursor() as cursor:
        # Every counter of the study, locked in stimulus id order before the UPDATE (whose own row
        # order follows the scan): the lock order of every other writer.
        cursor.execute(
            "SELECT 1 FROM ratings_stimulusload WHERE study_id = %s ORDER BY stimulus_id FOR UPDATE",
            [study_id],
        )
        cursor.execute(
            """
            WITH counts AS (
                SELECT t.stimulus_id, count(*) AS n FROM ratings_trial t
                JOIN ratings_ratingsession s ON s.id = t.session_id
                JOIN ratings_participant p ON p.id = s.participant_id
                WHERE s.study_id = %s AND t.kind = %s AND NOT s.is_pilot
                  AND p.excluded_reason = '' AND s.status <> %s
                  AND (t.answered_at IS NOT NULL OR s.status = ANY(%s))
                GROUP BY t.stimulus_id
            )
            UPDATE ratings_stimulusload l
            SET load = COALESCE((SELECT n FROM counts WHERE counts.stimulus_id = l.stimulus_id), 0)
            WHERE l.study_id = %s
            """,
            [study_id, Trial.Kind.TEST, RatingSession.Status.SCREENED_OUT, live, study_id],
        )


def arrange(items: list[Item], rng: random.Random, attempts: int = 50) -> list[Item]:
    """A random order in which no two neighbours share a prompt (shown or own), when one exists.

    Randomised greedy: at each step take a random item that does not clash with the previous one,
    preferring the most frequent prompt when it would otherwise run out of room. Falls back to the
    best attempt (fewest clashes) for impossible inputs, e.g. a single prompt.
    """
    best: list[Item] = []
    best_clashes = len(items) + 1
    for _ in range(attempts):
        pool = items[:]
        rng.shuffle(pool)
        order: list[Item] = []
        clashes = 0
        while pool:
            last = order[-1].prompts if order else set()
            ok = [item for item in pool if not (item.prompts & last)]
            counts: dict[str, int] = {}
            for item in pool:
                counts[item.prompt] = counts.get(item.prompt, 0) + 1
            top_prompt, top = max(counts.items(), key=lambda kv: kv[1])
            urgent = [item for item in ok if item.prompt == top_prompt] if top * 2 > len(pool) else []
            choice = rng.choice(urgent or ok) if (urgent or ok) else pool[0]
            if not ok:
                clashes += 1
            pool.remove(choice)
            order.append(choice)
        if clashes < best_clashes:
            best, best_clashes = order, clashes
        if clashes == 0:
            break
    return best


def insert_repeats(order: list[Item], repeats: list[Item], rng: random.Random, gap: int = 3) -> list[Item]:
    """Place each repeat after its original, at least `gap` trials later when possible, without clashes."""
    result = order[:]
    for repeat in repeats:
        first = next(
            i
            for i, item in enumerate(result)
            if item.stimulus_id == repeat.stimulus_id and item.repetition == 0
        )

        def fits(pos: int, repeat: Item = repeat) -> bool:
            before = result[pos - 1].prompts if pos > 0 else set()
            after = result[pos].prompts if pos < len(result) else set()
            return not (repeat.prompts & (before | after))

        positions = [p for p in range(first + 1 + gap, len(result) + 1) if fits(p)]
        positions = positions or [p for p in range(first + 1, len(result) + 1) if fits(p)]
        result.insert(rng.choice(positions) if positions else len(result), repeat)
    return result
