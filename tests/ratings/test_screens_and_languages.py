"""Device policy, languages, viewing conditions and leaving a session: the server side."""

import uuid

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from experiments.models import Study
from ratings.devices import COMPUTER, PHONE, TABLET, device_class, ua_family, viewing_conditions
from ratings.languages import language_pick, perspectives_in, study_in
from ratings.models import Participant, Rating, RatingSession, StimulusLoad
from ratings.selectors import perspectives_for_trial
from ratings.services import rating_submit, session_instructions_done, session_withdraw
from tests.ratings.conftest import answer_all, enter, make_study

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0.0.0 Mobile Safari/537.36"
)
ANDROID_TABLET = "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36"
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36 Edg/131.0"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15"
)


@pytest.mark.parametrize(
    ("agent", "hint", "touch_mac", "expected"),
    [
        (IPHONE, "", False, PHONE),
        (ANDROID_PHONE, "", False, PHONE),
        (ANDROID_TABLET, "", False, TABLET),
        (MAC_SAFARI, "", True, TABLET),  # iPadOS Safari says "Macintosh"; the page reports its touch screen
        (MAC_SAFARI, "", False, COMPUTER),
        (DESKTOP, "", False, COMPUTER),
        (DESKTOP, "?1", False, PHONE),  # Chromium's client hint
    ],
)
def test_device_class(agent: str, hint: str, touch_mac: bool, expected: str) -> None:
    assert device_class(agent, mobile_hint=hint, touch_mac=touch_mac) == expected


def test_ua_family_names_browser_system_and_class() -> None:
    assert ua_family(DESKTOP) == "Edge 131 / Windows (computer)"
    assert ua_family(IPHONE) == "other / iOS (phone)"
    assert ua_family(MAC_SAFARI) == "Safari 17 / macOS (computer)"
    assert ua_family(ANDROID_PHONE) == "Chrome 131 / Android (phone)"


def test_viewing_conditions_count_zoom_changes_only() -> None:
    device = {
        "viewport": {"width": 1440, "height": 900},
        "screen": {"width": 1440, "height": 900},
        "dpr": 1,
        "ua_family": "Chrome 131 / Linux (computer)",
        "changes": [{"dpr": 1.25}, {"dpr": 1.25}, {"dpr": 1}],
    }
    assert viewing_conditions(device) == ("1440x900", "1440x900", 1, 2, "Chrome 131 / Linux (computer)")
    assert viewing_conditions({}) == ("", "", None, 0, "")


@pytest.mark.parametrize(
    ("header", "asked", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "", "zh-hans"),
        ("fr-FR,de-DE;q=0.8,en;q=0.5", "", "de"),
        ("fr-FR,it;q=0.9", "", "en"),  # none offered: the study's first language
        ("zh-CN", "de", "de"),  # the entry page's switch wins
        ("zh-CN", "fr", "zh-hans"),  # a language the study does not offer is ignored
    ],
)
def test_language_pick(db: None, header: str, asked: str, expected: str) -> None:
    study = make_study(tests=1, languages=["en", "zh-hans", "de"])
    request = RequestFactory().get("/", HTTP_ACCEPT_LANGUAGE=header)
    assert language_pick(study=study, request=request, asked=asked) == expected


def test_a_study_only_in_english_stays_english_whatever_the_browser(db: None) -> None:
    study = make_study(tests=1)
    request = RequestFactory().get("/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert language_pick(study=study, request=request) == "en"


def test_study_texts_in_a_language_fall_back_to_the_first_language(db: None) -> None:
    study = make_study(
        tests=1,
        title="Ratings",
        instructions="Look closely.",
        languages=["en", "zh-hans"],
        translations={"zh-hans": {"title": "评分", "scale_labels": ["1", "2", "3", "4", "5"]}},
    )
    shown = study_in(study, "zh-hans")
    assert (shown.title, shown.instructions, shown.scale_labels) == (
        "评分",
        "Look closely.",
        ["1", "2", "3", "4", "5"],
    )
    assert study.title == "Ratings"  # the study itself is untouched
    perspectives = perspectives_in(perspectives_for_trial(study=study), study, "zh-hans")
    assert perspectives[0]["label"] == "Quality"  # no translation given for it
    assert study_in(study, "en") is study


def test_a_new_study_offers_the_aigciqa2023_texts_in_chinese(db: None) -> None:
    study = make_study(tests=1, languages=["en", "zh-hans"])
    perspectives = perspectives_in(perspectives_for_trial(study=study), study, "zh-hans")
    assert [p["label"] for p in perspectives] == ["质量", "真实性", "一致性"]
    assert study_in(study, "zh-hans").scale_labels == ["差", "较差", "一般", "好", "非常好"]


def test_a_phone_in_a_computer_only_study_is_refused_before_consent_and_nothing_is_allocated(
    db: None,
) -> None:
    study = make_study(tests=4, panel=Study.Panel.PROLIFIC)
    client = Client(HTTP_USER_AGENT=IPHONE)
    query = {"PROLIFIC_PID": "ph-1", "STUDY_ID": "s", "SESSION_ID": "x"}

    page = client.get(reverse("ratings:study-entry", kwargs={"slug": study.slug}), query)
    consent = client.post(
        reverse("ratings:study-consent", kwargs={"slug": study.slug}), {**query, "decision": "agree"}
    )

    for response in (page, consent):
        assert response.status_code == 200
        assert b"This study must be done on a computer" in response.content
        assert b"https://app.prolific.com/submissions/complete?cc=OUT-456" in response.content
    assert not Participant.objects.filter(study=study).exists()


def test_an_ipad_reported_by_the_entry_page_is_refused_at_consent(db: None) -> None:
    study = make_study(tests=4)
    client = Client(HTTP_USER_AGENT=MAC_SAFARI)
    response = client.post(
        reverse("ratings:study-consent", kwargs={"slug": study.slug}),
        {"pid": "ipad-1", "decision": "agree", "touch_mac": "1"},
    )
    assert b"This study must be done on a computer" in response.content
    assert not Participant.objects.filter(study=study).exists()


def test_any_device_lets_a_phone_consent(db: None) -> None:
    study = make_study(tests=4, device_policy=Study.DevicePolicy.ANY)
    client = Client(HTTP_USER_AGENT=IPHONE)
    response = client.post(
        reverse("ratings:study-consent", kwargs={"slug": study.slug}), {"pid": "ph-2", "decision": "agree"}
    )
    assert response.status_code == 302
    assert RatingSession.objects.get(participant__external_id="ph-2").trial_count == 4


def test_consent_records_the_language_and_ratings_carry_it(db: None) -> None:
    study = make_study(tests=4, languages=["en", "zh-hans"])
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-CN")
    client.post(
        reverse("ratings:study-consent", kwargs={"slug": study.slug}), {"pid": "zh-2", "decision": "agree"}
    )
    session = RatingSession.objects.get(participant__external_id="zh-2")
    assert session.language == "zh-hans"
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.INSTRUCTIONS)
    session.refresh_from_db()
    session_instructions_done(session=session)
    trial = session.trials.get(index=0)
    rating_submit(
        token=session.token, trial_index=0, scores=answer_all(study), idempotency_key=uuid.uuid4(),
        stimulus_id=trial.stimulus_id,
    )  # fmt: skip
    assert set(Rating.objects.filter(session=session).values_list("language", flat=True)) == {"zh-hans"}


def test_leaving_a_session_screens_it_out_and_releases_its_trials(db: None) -> None:
    study = make_study(tests=4, stimuli_per_session=2)
    session = enter(study, "leave-1")
    loads = dict(StimulusLoad.objects.filter(study=study).values_list("stimulus_id", "load"))
    assert sum(loads.values()) == 2

    session_withdraw(session=session, reason="display")
    session_withdraw(session=session, reason="display")  # twice: still released once

    session.refresh_from_db()
    assert session.status == RatingSession.Status.SCREENED_OUT
    assert session.device["withdrawn"] == "display"
    assert set(StimulusLoad.objects.filter(study=study).values_list("load", flat=True)) == {0}


def test_the_leave_page_shows_the_return_link(db: None, client: Client) -> None:
    study = make_study(tests=4, panel=Study.Panel.PROLIFIC)
    session = enter(study, "leave-2")
    Participant.objects.filter(pk=session.participant_id).update(panel_data={"PROLIFIC_PID": "leave-2"})
    url = reverse("ratings:session-leave", kwargs={"slug": study.slug, "token": session.token})
    response = client.post(url, {"reason": "display"}, follow=True)
    assert b"cannot show the study&#x27;s images at full size" in response.content
    assert b"https://app.prolific.com/submissions/complete?cc=OUT-456" in response.content


def test_the_csrf_endpoint_gives_a_token_for_a_session_and_404_otherwise(db: None, client: Client) -> None:
    session = enter(make_study(tests=2), "csrf-2")
    ok = client.get(reverse("ratings-api:csrf", kwargs={"token": session.token}))
    assert ok.status_code == 200
    assert len(ok.json()["csrf"]) >= 32
    assert ok["Cache-Control"].startswith("max-age=0")
    assert client.get(reverse("ratings-api:csrf", kwargs={"token": "nope"})).status_code == 404


def test_404_and_500_pages_are_styled_and_never_the_debug_page(client: Client, db: None) -> None:
    response = client.get("/s/no-such-study/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b"favicon.svg" in response.content
    from django.template.loader import render_to_string

    assert "Something went wrong" in render_to_string("500.html")


def test_declining_is_answered_in_the_participants_language(db: None) -> None:
    study = make_study(tests=2, languages=["en", "zh-hans"])
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-CN")
    response = client.post(
        reverse("ratings:study-consent", kwargs={"slug": study.slug}),
        {"pid": "no-1", "decision": "decline"},
        follow=True,
    )
    session = RatingSession.objects.get(participant__external_id="no-1")
    assert session.status == RatingSession.Status.DECLINED
    assert session.language == "zh-hans"
    assert response["Content-Language"] == "zh-hans"


def test_the_questionnaire_is_shown_in_the_participants_language_and_answers_export_alike(db: None) -> None:
    # given a study in English and Chinese with a translated questionnaire
    question = {"key": "age", "label": "Age range", "type": "choice", "choices": ["18-29", "30-49", "50+"]}
    zh = {"questionnaire": {"age": {"label": "年龄段", "choices": ["18至29岁", "30至49岁", "50岁以上"]}}}
    study = make_study(
        tests=2, languages=["en", "zh-hans"], questionnaire=[question], translations={"zh-hans": zh}
    )
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-CN")
    client.post(
        reverse("ratings:study-consent", kwargs={"slug": study.slug}), {"pid": "zh-q", "decision": "agree"}
    )
    session = RatingSession.objects.get(participant__external_id="zh-q")
    page_url = reverse("ratings:session", kwargs={"slug": study.slug, "token": session.token})

    # when the participant sees the questionnaire and picks the second option
    page = client.get(page_url).content.decode()
    client.post(page_url + "questionnaire/", {"age": "30-49"})

    # then the question and options are in Chinese, the value stored is the study's own option
    assert "年龄段" in page
    assert "30至49岁" in page
    assert "Age range" not in page
    assert 'value="30-49"' in page
    session.refresh_from_db()
    assert session.questionnaire["answers"] == {"age": "30-49"}
    # and an English participant sees the study's own texts
    english = Client(HTTP_ACCEPT_LANGUAGE="en")
    english.post(
        reverse("ratings:study-consent", kwargs={"slug": study.slug}), {"pid": "en-q", "decision": "agree"}
    )
    other = RatingSession.objects.get(participant__external_id="en-q")
    shown = english.get(reverse("ratings:session", kwargs={"slug": study.slug, "token": other.token}))
    assert "Age range" in shown.content.decode()
    assert "年龄段" not in shown.content.decode()
