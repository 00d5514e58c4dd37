import pytest
from django.urls import reverse

from analysis.models import AnalysisRun


@pytest.fixture
def client_owner(client, owner):
    client.force_login(owner)
    return client


def test_run_list_shows_runs_and_the_start_form(client_owner, study_with_run) -> None:
    study, run = study_with_run

    response = client_owner.get(reverse("analysis:run-list", args=[study.slug]))

    html = response.content.decode()
    assert response.status_code == 200
    assert reverse("analysis:run-detail", args=[run.pk]) in html
    for method in ("bt500_zscore", "mos", "vote_outliers", "mle"):
        assert f'value="{method}"' in html
    assert 'name="p__bt500_zscore__screen_on"' in html
    assert 'name="include_pilot"' in html


def test_posting_the_form_starts_a_run_and_redirects_to_it(
    client_owner, study_with_run, django_capture_on_commit_callbacks
) -> None:
    study, _ = study_with_run
    with django_capture_on_commit_callbacks(execute=False):
        response = client_owner.post(
            reverse("analysis:run-list", args=[study.slug]),
            {
                "method": "mle",
                "p__mle__max_iter": "50",
                "p__mle__tol": "",
                "include_pilot": "on",
                "exclude_qc_failures": "on",
            },
        )

    run = AnalysisRun.objects.filter(study=study).order_by("-id").first()
    assert response.status_code == 302
    assert response["Location"] == reverse("analysis:run-detail", args=[run.pk])
    assert run.method == "mle"
    assert run.parameters["max_iter"] == 50
    assert run.parameters["tol"] == 1e-8
    assert run.include_pilot
    assert run.exclude_qc_failures
    assert not run.include_panel_ids


def test_bad_parameters_show_the_message_and_start_nothing(client_owner, study_with_run) -> None:
    study, _ = study_with_run

    response = client_owner.post(
        reverse("analysis:run-list", args=[study.slug]),
        {"method": "vote_outliers", "p__vote_outliers__threshold": "-1", "p__vote_outliers__ci": "0.9"},
    )

    assert response.status_code == 400
    assert "parameter threshold must be in (0, inf); got -1.0" in response.content.decode()
    assert AnalysisRun.objects.filter(study=study).count() == 1


def test_run_page_shows_results_plots_tables_and_downloads(client_owner, study_with_run) -> None:
    _study, run = study_with_run

    html = client_owner.get(reverse("analysis:run-detail", args=[run.pk])).content.decode()

    assert 'id="stimuli-table"' in html
    assert 'id="raters-table"' in html
    assert reverse("analysis:run-file", args=[run.pk, "plots/mos_histogram.png"]) in html
    assert reverse("analysis:run-file", args=[run.pk, run.zip_name]) in html
    assert reverse("analysis:run-file", args=[run.pk, "DATA/MOS/mosz1.mat"]) in html
    assert html.count("<tr><td>") >= 4  # one row per stimulus
    assert 'id="run-status-data"' in html
    assert "<script>" not in html


def test_status_json_reports_progress(client_owner, study_with_run) -> None:
    _study, run = study_with_run

    body = client_owner.get(reverse("analysis:run-status", args=[run.pk])).json()

    assert body == {
        "id": run.pk,
        "status": "done",
        "status_label": "Done",
        "progress": 1.0,
        "message": f"{len(run.files)} files written",
        "error": "",
        "finished": True,
    }


def test_plots_are_inline_and_other_files_are_attachments(client_owner, study_with_run) -> None:
    _study, run = study_with_run

    plot = client_owner.get(reverse("analysis:run-file", args=[run.pk, "plots/mos_ci.png"]))
    zipped = client_owner.get(reverse("analysis:run-file", args=[run.pk, run.zip_name]))

    assert plot["Content-Type"] == "image/png"
    assert plot["Content-Disposition"].startswith("inline")
    assert zipped["Content-Disposition"] == f'attachment; filename="{run.zip_name}"'
    assert b"".join(zipped.streaming_content)[:2] == b"PK"


def test_a_failed_run_page_shows_the_error(client_owner, owner) -> None:
    from analysis import services
    from tests.factories import StimulusFactory, StudyFactory

    study = StudyFactory(owner=owner)
    StimulusFactory(study=study)
    run = services.analysis_run_start(study=study, method="mos", enqueue=False)
    services.analysis_run_execute(run_id=run.id)

    html = client_owner.get(reverse("analysis:run-detail", args=[run.pk])).content.decode()

    assert "There are no test ratings to analyse yet" in html
    assert client_owner.get(reverse("analysis:run-file", args=[run.pk, "mos.csv"])).status_code == 404


def test_latest_run_card_links_the_newest_run(client_owner, study_with_run) -> None:
    from django.template import Context, Template

    study, run = study_with_run
    html = Template('{% include "analysis/_latest_run.html" with study=study %}').render(
        Context({"study": study})
    )

    assert reverse("analysis:run-detail", args=[run.pk]) in html
    assert reverse("analysis:run-list", args=[study.slug]) in html


@pytest.mark.parametrize("who", ["other", "anonymous"])
def test_every_page_refuses_other_researchers_and_anonymous(client, who, other, study_with_run) -> None:
    study, run = study_with_run
    if who == "other":
        client.force_login(other)
    urls = [
        reverse("analysis:run-list", args=[study.slug]),
        reverse("analysis:run-detail", args=[run.pk]),
        reverse("analysis:run-status", args=[run.pk]),
        reverse("analysis:run-file", args=[run.pk, "mos.csv"]),
        reverse("analysis:run-file", args=[run.pk, "plots/mos_ci.png"]),
    ]

    codes = [client.get(u).status_code for u in urls]
    posted = client.post(urls[0], {"method": "mos"}).status_code

    if who == "other":
        assert codes == [404] * 5
        assert posted == 404
    else:
        assert codes == [302] * 5
        assert posted == 302
    assert AnalysisRun.objects.filter(study=study).count() == 1


def test_a_pilot_including_run_is_labelled_in_the_run_list_and_on_its_page(
    client_owner, study_with_run
) -> None:
    # given a real run and a run that includes pilot data
    study, real = study_with_run
    from analysis import services

    pilot_run = services.analysis_run_start(study=study, method="mos", include_pilot=True, enqueue=False)

    # when
    listing = client_owner.get(reverse("analysis:run-list", args=[study.slug])).content.decode()
    real_page = client_owner.get(reverse("analysis:run-detail", args=[real.pk])).content.decode()
    pilot_page = client_owner.get(reverse("analysis:run-detail", args=[pilot_run.pk])).content.decode()

    # then only the pilot-including one carries the label
    assert listing.count("includes pilot data") == 1
    assert "real data" in listing
    assert 'id="pilot-included"' in pilot_page
    assert "sets no exclusions" in pilot_page
    assert 'id="pilot-included"' not in real_page


def test_start_form_offers_choices_as_controls_with_the_defaults_chosen(client_owner, study_with_run) -> None:
    study, _ = study_with_run

    html = client_owner.get(reverse("analysis:run-list", args=[study.slug])).content.decode()

    assert 'type="radio" name="method" value="bt500_zscore"' in html
    assert 'name="p__bt500_zscore__screen_on" value="raw"' in html
    assert "Per-rater z-scores (as AIGCIQA2023 and sureal do)" in html
    assert 'value="raw" required id="id_p__bt500_zscore__screen_on_0" checked' in html or (
        'value="raw"' in html and "checked" in html.split('value="raw"')[1].split(">")[0]
    )


def test_a_choice_that_does_not_exist_is_refused_in_words(client_owner, study_with_run) -> None:
    study, _ = study_with_run

    response = client_owner.post(
        reverse("analysis:run-list", args=[study.slug]),
        {"method": "bt500_zscore", "p__bt500_zscore__screen_on": "sideways"},
    )

    assert response.status_code == 400
    assert "Select a valid choice. sideways is not one of the available choices." in response.content.decode()


@pytest.mark.parametrize("language", ["en", "de", "zh-hans"])
def test_table_numbers_are_the_text_floatformat_gives(language) -> None:
    # the results page formats its tables' numbers in the view; they must read as the template's
    # floatformat wrote them, in every language (decimal comma in German)
    import random

    from django.template.defaultfilters import floatformat
    from django.utils import translation

    from analysis.views import _Fixed

    rnd = random.Random(5)
    values = ["", "nan", "inf", "-inf", "abc", "20", "-0.004", "-0.0004", "0.125", "0.0125", "2.675", "1.005",
              "-1.005", "1e-05", "-1e-300", "1e300", "123456789.995", "0.00049999999", "99.995", "-99.995",
              "1" + "0" * 45, "0." + "0" * 250 + "1", " 3.5", "1_000.5"]  # fmt: skip
    values += [repr(rnd.uniform(-200, 200)) for _ in range(2000)]
    values += [repr(round(rnd.uniform(-5, 5), 3)) for _ in range(500)]
    with translation.override(language):
        fixed = _Fixed()
        for places in (1, 2, 3):
            assert [fixed(v, places) for v in values] == [str(floatformat(v, places)) for v in values]
        assert fixed("2.675", 2) == ("2,68" if language == "de" else "2.68")


@pytest.mark.parametrize(("language", "separator"), [("en", "."), ("de", ",")])
def test_run_page_tables_show_numbers_in_the_readers_language(
    client_owner, study_with_run, language, separator
) -> None:
    # the numbers of the tables are formatted in the view: the same text floatformat gave
    import csv
    import io
    import re

    from django.core.files.storage import default_storage
    from django.template.defaultfilters import floatformat
    from django.utils import translation

    from analysis.selectors import analysis_run_file_name

    _study, run = study_with_run
    with default_storage.open(analysis_run_file_name(run=run, relative="mos.csv"), "rb") as fh:
        first = next(csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8")))
    key = run.summary["perspectives"][0]["key"]

    html = client_owner.get(
        reverse("analysis:run-detail", args=[run.pk]), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()

    with translation.override(language):
        mos = str(floatformat(first[f"{key}_mos"], 2))
        ci = f"{floatformat(first[f'{key}_ci_low'], 1)}–{floatformat(first[f'{key}_ci_high'], 1)}"
    assert separator in mos
    assert f'<td data-value="{first[f"{key}_mos"]}">{mos}</td><td class="ci">{ci}</td>' in html
    assert re.search(r'<td data-value="[^"]+">-?\d+' + re.escape(separator) + r"\d{3}</td>", html)  # ratio1
    # and the thumbnails are the stimuli's own image URLs
    from experiments.models import Stimulus

    for stimulus in Stimulus.objects.filter(study=run.study, role=Stimulus.Role.TEST):
        assert f'<img src="{stimulus.image_url}" alt="" loading="lazy"' in html
