import pytest
from playwright.sync_api import Page, expect


@pytest.mark.browser
def test_participant_page_of_the_demo_study_opens_in_chromium(live_server, demo_study, page: Page) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/s/{demo_study.slug}/")

    expect(page.locator("h1")).to_contain_text(demo_study.title)
