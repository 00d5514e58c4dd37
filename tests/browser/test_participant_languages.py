"""Participants in their own language: a whole Simplified Chinese journey with no English left on
any page, and the switch on the entry page. Headless Chromium against the live server."""

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from analysis.exports import RAW_COLUMNS
from analysis.loaders import raw_rating_rows
from experiments.models import Stimulus, Study
from experiments.presets import AIGCIQA2023_TRANSLATIONS
from ratings.models import Rating, RatingSession
from tests.browser.test_participant_screens import rate, shot
from tests.factories import StimulusFactory, png_bytes
from tests.ratings.conftest import make_study

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ZH_TEXTS = {
    "title": "图像质量研究",
    "description": "请评价由人工智能生成的图像。",
    "consent_text": "您的评分将匿名保存，仅用于研究。",
    "instructions": "请仔细观察每张图像。",
    "training_feedback": "请将您的回答与参考答案进行比较。",
}


def english_msgids() -> list[str]:
    """Every English text of the participant catalogue (locale/zh_Hans), as msgids."""
    po = (ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    ids = []
    for block in po.split("\n\n")[1:]:
        parts = re.findall(
            r'^(?:msgid|msgid_plural) ("(?:[^"\\]|\\.)*"(?:\n"(?:[^"\\]|\\.)*")*)', block, re.M
        )
        for part in parts:
            ids.append("".join(re.findall(r'"((?:[^"\\]|\\.)*)"', part)))
    return [i for i in ids if len(i.split()) >= 2]


def bilingual_study() -> Study:
    study = make_study(
        panel=Study.Panel.PROLIFIC,
        tests=0,
        stimuli_per_session=2,
        break_every=1,
        title="Image quality study",
        description="Please rate images made by AI models.",
        consent_text="Your ratings are stored anonymously and used for research only.",
        instructions="Look at every image carefully.",
        training_feedback="Compare your answers with the reference.",
        languages=["en", "zh-hans", "de"],
        translations={"zh-hans": {**AIGCIQA2023_TRANSLATIONS["zh-hans"], **ZH_TEXTS}},
    )
    for i in range(3):
        StimulusFactory(
            study=study, prompt=f"a cat on a sofa {i}", data=png_bytes((60 * i, 90, 160), size=(256, 256))
        )
    StimulusFactory(
        study=study,
        prompt="a practice lighthouse",
        role=Stimulus.Role.TRAINING,
        data=png_bytes((200, 180, 90), size=(256, 256)),
        reference_scores={"quality": 4, "correspondence": 5},
    )
    Study.objects.filter(pk=study.pk).update(training_count=1)
    study.refresh_from_db()
    return study


def english_left(page: Page, allowed: list[str], english: list[str]) -> list[str]:
    """English on the page's visible text: any English msgid or study text, and any Latin word
    once the allowed data (prompts, codes, links, key names) is taken out."""
    text = page.evaluate("() => document.body.innerText")
    found = [e for e in english if e in text]
    for word in sorted(allowed, key=len, reverse=True):
        text = text.replace(word, " ")
    found += re.findall(r"[A-Za-z]{2,}", text)
    return found


def test_a_participant_whose_browser_prefers_chinese_sees_every_page_in_chinese(
    live_server: Any, browser: Browser
) -> None:
    # given a study in English, Simplified Chinese and German, and a browser set to Chinese
    study = bilingual_study()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900})
    context.route(
        "https://app.prolific.com/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<h1>Prolific</h1>"),
    )
    page = context.new_page()
    study_english = [
        study.title,
        study.description,
        study.consent_text,
        study.instructions,
        study.training_feedback,
        *study.scale_labels,
        *[p.label for p in study.perspectives.all()],
        *[p.question for p in study.perspectives.all()],
        *[d for p in study.perspectives.all() for d in p.level_descriptions],
    ]
    english = english_msgids() + study_english
    prompts = list(Stimulus.objects.filter(study=study).values_list("prompt", flat=True))
    allowed = [*prompts, "DONE-123", "Tab", "English", "Deutsch"]
    seen: dict[str, list[str]] = {}

    def scan(stage: str) -> None:
        shot(page, "zh-1440x900@1", stage)
        seen[stage] = english_left(page, allowed, english)

    # when they go through the whole study
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=zh-1&STUDY_ID=s&SESSION_ID=x")
    expect(page.locator("h1")).to_have_text("图像质量研究")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    scan("entry")
    page.locator("#consent-agree").click()
    expect(page.locator("#display-status")).to_have_class("display-status ok")
    scan("display-check")
    page.locator("#display-continue").click()
    expect(page.locator("h1")).to_have_text("说明")
    scan("instructions")
    page.locator("#instructions-start").click()
    expect(page.locator("#trial-image")).to_have_js_property("complete", True)
    page.locator(".level").first.hover()
    scan("practice")
    rate(page, 0, "455")
    expect(page.locator("#overlay-text")).to_contain_text("质量：您的回答为 4；参考答案为 4。")
    expect(page.locator("#overlay-text")).to_contain_text("请将您的回答与参考答案进行比较。")
    scan("feedback")
    page.locator("#overlay-continue").click()
    expect(page.locator("#overlay-title")).to_have_text("练习完成")
    scan("practice-done")
    page.locator("#overlay-continue").click()
    rate(page, 1)
    expect(page.locator("#overlay-title")).to_have_text("稍作休息")
    scan("break")
    page.locator("#overlay-continue").click()
    rate(page, 2)
    expect(page.locator("#completion-code")).to_have_text("DONE-123")
    scan("complete")
    context.close()

    # then no page showed English (other than the images' own prompts)
    assert seen == {stage: [] for stage in seen}
    assert len(seen) == 8
    # and every rating records the language it was given in; the raw export carries it
    session = RatingSession.objects.get(study=study)
    assert session.language == "zh-hans"
    assert set(Rating.objects.filter(session=session).values_list("language", flat=True)) == {"zh-hans"}
    rows = [dict(zip(RAW_COLUMNS, row, strict=True)) for row in raw_rating_rows(study)]
    assert len(rows) == 9
    assert {r["language"] for r in rows} == {"zh-hans"}
    assert {(r["viewport"], r["screen"], r["dpr"], r["zoom_changes"]) for r in rows} == {
        ("1440x900", "1440x900", 1, 0)
    }
    assert rows[0]["ua_family"].startswith("Chrome ")


def test_the_entry_page_switches_language_and_the_session_keeps_it(
    live_server: Any, browser: Browser
) -> None:
    study = bilingual_study()
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=de-1&STUDY_ID=s&SESSION_ID=x")
    expect(page.locator("#consent-agree")).to_have_text("我同意并愿意参加")

    # when the participant picks German on the entry page
    page.locator("#lang-de").click()

    # then the page (German has no study texts: the study's first language fills in) and the session follow
    expect(page.locator("#consent-agree")).to_have_text("Ich stimme zu und möchte teilnehmen")
    expect(page.locator("h1")).to_have_text("Image quality study")
    page.locator("#consent-agree").click()
    expect(page.locator("h1")).to_have_text("Bildschirmprüfung")
    context.close()
    session = RatingSession.objects.get(study=study)
    assert session.language == "de"
    assert session.participant.panel_data["PROLIFIC_PID"] == "de-1"
