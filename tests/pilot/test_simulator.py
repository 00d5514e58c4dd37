"""The simulator against the live server: the real HTTP flow, idempotent retries, reproducibility."""

import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from pilot import simulator
from pilot.simulator import ParticipantClient, Population, population_plan, simulate
from ratings.models import Participant, Rating, RatingSession
from tests.ratings.conftest import make_study

HONEST_ONLY = Population(seed=1, spammers=0, straightliners=0, abandoners=0)


def stored_scores(result: simulator.SimulationResult) -> dict[tuple[int, int, str, str], float]:
    return {
        (p.rater.index, answer["stimulus"], answer["kind"], key): value
        for p in result.participants
        for answer in p.stored
        for key, value in answer["scores"].items()
    }


# --- Rater models (no server) ----------------------------------------------------------------
def test_the_population_has_the_planted_shares_and_the_same_seed_gives_the_same_raters() -> None:
    population = Population(seed=5, spammers=0.2, straightliners=0.1, abandoners=0.3)

    raters = population_plan(50, population)

    kinds = [r.kind for r in raters]
    assert kinds.count(simulator.SPAMMER) == 10
    assert kinds.count(simulator.STRAIGHTLINER) == 5
    assert sum(r.abandon_after is not None for r in raters) == 15
    assert population_plan(50, population) == raters
    assert population_plan(50, Population(seed=6, spammers=0.2, straightliners=0.1, abandoners=0.3)) != raters


def test_an_honest_rater_answers_near_the_truth_and_a_straight_liner_always_the_same() -> None:
    scale = simulator.Scale("integer", 1, 5)
    honest = simulator.Rater(0, simulator.HONEST, bias=0.0, noise=0.01, abandon_after=None, line_value=0.5)
    liner = simulator.Rater(
        1, simulator.STRAIGHTLINER, bias=0.0, noise=0.5, abandon_after=None, line_value=0.74
    )

    for stimulus in range(20):
        trial = {"index": stimulus, "stimulus": stimulus, "kind": "test"}
        truth = simulator.planted_truth(3, stimulus, "quality", scale)
        assert simulator.rater_scores(honest, trial, ["quality"], scale, 3)["quality"] == round(truth)
        assert simulator.rater_scores(liner, trial, ["quality", "authenticity"], scale, 3) == {
            "quality": 4.0,
            "authenticity": 4.0,
        }


# --- Against the live server ------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_simulated_participants_walk_the_whole_flow_and_every_acknowledged_answer_is_stored(
    live_server: Any,
) -> None:
    # given an open study with practice trials and a questionnaire
    study = make_study(
        tests=10,
        training=2,
        stimuli_per_session=4,
        target_ratings=50,
        questionnaire=[
            {"key": "age", "label": "Age", "type": "number"},
            {"key": "vision", "label": "Vision", "type": "choice", "choices": ["normal", "corrected"]},
        ],
    )

    # when four simulated participants take part, two at a time
    result = simulate(live_server.url, study.slug, 4, population=HONEST_ONLY, concurrency=2)

    # then each completed through the real pages, and the database holds exactly what was acknowledged
    assert result.outcomes() == {"completed": 4}, result.summary()
    assert all(p.code == "DONE-123" for p in result.participants)
    sessions = RatingSession.objects.filter(study=study)
    assert sessions.count() == 4
    assert {s.status for s in sessions} == {RatingSession.Status.COMPLETED}
    assert all(
        s.device.get("fits") is True and s.questionnaire["answers"]["vision"] == "normal" for s in sessions
    )
    stored = {
        (r.session.token, r.stimulus_id, r.perspective.key): r.score
        for r in Rating.objects.select_related("session", "perspective")
    }
    sent = {
        (p.token, a["stimulus"], key): v
        for p in result.participants
        for a in p.stored
        for key, v in a["scores"].items()
    }
    assert stored == sent
    assert len(stored) == 4 * (4 + 2) * 3
    assert result.stats.errors == []
    assert len(result.latencies["rating"]) == 4 * 6


@pytest.mark.django_db(transaction=True)
def test_sending_the_same_answer_twice_stores_it_once_and_acknowledges_both(live_server: Any) -> None:
    study = make_study(tests=6, stimuli_per_session=3)
    client = ParticipantClient(live_server.url, study.slug, {"pid": "twice"})
    page = client.through_stages(client.enter())
    assert page.stage == "trials"
    trial = client.session_data["trials"][0]
    scores = {"quality": 4, "authenticity": 3, "correspondence": 5}

    first = client.submit(trial, scores, key="7a4c1f0e-1111-4222-8333-944455556666")
    again = client.submit(trial, scores, key="7a4c1f0e-1111-4222-8333-944455556666")

    assert (first.status, first.json()["created"]) == (201, True)
    assert (again.status, again.json()["created"]) == (200, False)
    assert (
        Rating.objects.filter(session__token=client.session_url.rstrip("/").rsplit("/", 1)[-1]).count() == 3
    )


class DroppingProxy:
    """A TCP proxy that forwards each request on a fresh upstream connection, and for the first
    `drop` rating submissions throws the server's answer away and cuts the connection: the rating
    is stored, but the client never hears so (a lost response)."""

    def __init__(self, upstream: str, drop: int) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.drop = drop
        self.dropped = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_request(conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return b""
            data += chunk
        head, _sep, body = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        while len(body) < length:
            body += conn.recv(65536)
        return head + b"\r\n\r\n" + body

    def _client(self, conn: socket.socket) -> None:
        with conn:
            while True:
                request = self._read_request(conn)
                if not request:
                    return
                with socket.create_connection(self.upstream) as up:
                    up.sendall(request.replace(b"HTTP/1.1\r\n", b"HTTP/1.0\r\n", 1))
                    response = b""
                    while chunk := up.recv(65536):
                        response += chunk
                if (
                    request.startswith(b"POST")
                    and b"/ratings/" in request.split(b"\r\n", 1)[0]
                    and self.dropped < self.drop
                ):
                    self.dropped += 1
                    return  # the answer is lost on the way back
                conn.sendall(response)
                return  # HTTP/1.0 upstream: one request per connection

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def proxy(live_server: Any) -> Iterator[DroppingProxy]:
    p = DroppingProxy(live_server.url, drop=3)
    yield p
    p.close()


@pytest.mark.django_db(transaction=True)
def test_a_lost_response_is_retried_with_the_same_key_and_stored_once(proxy: DroppingProxy) -> None:
    study = make_study(tests=6, stimuli_per_session=4)

    result = simulate(
        proxy.url,
        study.slug,
        1,
        population=HONEST_ONLY,
        client_options={"backoff": 0.01},
    )

    participant = result.participants[0]
    assert proxy.dropped == 3
    assert result.stats.retries >= 3
    assert participant.outcome == "completed"
    assert participant.answered == 4
    assert Rating.objects.filter(session__study=study).count() == 4 * 3  # nothing twice
    keys = Rating.objects.filter(session__study=study).values_list("idempotency_key", flat=True).distinct()
    assert len(keys) == 4


@pytest.mark.django_db(transaction=True)
def test_the_same_seed_gives_the_same_answers_whatever_the_allocation(live_server: Any) -> None:
    # given a study where every participant rates every test image, in a random order
    study = make_study(tests=6, prompts=3, stimuli_per_session=6, target_ratings=100)
    population = Population(seed=11, spammers=0.34, straightliners=0.0, abandoners=0.0)

    # when the same population runs twice, and another seed once
    first = simulate(live_server.url, study.slug, 3, population=population)
    second = simulate(live_server.url, study.slug, 3, population=population)
    other = simulate(
        live_server.url, study.slug, 3, population=Population(seed=12, spammers=0.34, abandoners=0)
    )

    # then the same raters gave the same scores to the same images
    assert len(stored_scores(first)) == 3 * 6 * 3
    assert stored_scores(first) == stored_scores(second)
    assert stored_scores(other) != stored_scores(first)
    assert Participant.objects.filter(study=study).count() == 9
