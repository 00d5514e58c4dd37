"""Every researcher page, API endpoint, admin page and draft image is denied to other researchers
and to anonymous users."""

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from experiments.models import StimulusImport, Study
from tests.factories import StimulusFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db

# (method, url name, needs stimulus / import id)
UI_URLS = [
    ("get", "experiments:study-detail", None),
    ("get", "experiments:study-edit", None),
    ("post", "experiments:study-edit", None),
    ("post", "experiments:study-launch", None),
    ("post", "experiments:study-pause", None),
    ("post", "experiments:study-close", None),
    ("get", "experiments:stimulus-list", None),
    ("get", "experiments:study-preview", None),
    ("get", "experiments:import-create", None),
    ("post", "experiments:import-create", None),
    ("get", "experiments:import-detail", "import"),
    ("get", "experiments:import-status", "import"),
    ("get", "experiments:study-dashboard", None),
    ("get", "experiments:study-dashboard-json", None),
]
API_URLS = [
    ("get", "experiments-api:study-detail", None),
    ("patch", "experiments-api:study-detail", None),
    ("post", "experiments-api:study-launch", None),
    ("post", "experiments-api:study-pause", None),
    ("post", "experiments-api:study-close", None),
    ("get", "experiments-api:stimulus-list", None),
    ("get", "experiments-api:stimulus-detail", "stimulus"),
    ("post", "experiments-api:import-create", None),
    ("get", "experiments-api:import-detail", "import"),
    ("get", "experiments-api:study-dashboard", None),
]


@pytest.fixture
def owned(researcher: Any) -> dict[str, Any]:
    study = StudyFactory(owner=researcher, title="Secret study")
    stimulus = StimulusFactory(study=study)
    stimulus_import = StimulusImport.objects.create(study=study, source="imports/x.zip")
    return {"study": study, "stimulus": stimulus, "import": stimulus_import}


def url_for(name: str, extra: str | None, owned: dict[str, Any]) -> str:
    args: list[Any] = [owned["study"].slug]
    if extra:
        args.append(owned[extra].pk)
    return reverse(name, args=args)


def call(client: Client, method: str, url: str) -> Any:
    if method == "patch":
        return client.patch(url, data={"title": "hijacked"}, content_type="application/json")
    return getattr(client, method)(url)


def assert_unchanged(owned: dict[str, Any]) -> None:
    study = Study.objects.get(pk=owned["study"].pk)
    assert (study.title, study.status) == ("Secret study", Study.Status.DRAFT)
    assert StimulusImport.objects.filter(study=study).count() == 1


@pytest.mark.parametrize(("method", "name", "extra"), UI_URLS + API_URLS)
def test_another_researcher_gets_404(
    client: Client, owned: dict[str, Any], method: str, name: str, extra: str | None
) -> None:
    client.force_login(UserFactory(username="intruder"))

    response = call(client, method, url_for(name, extra, owned))

    assert response.status_code == 404
    assert_unchanged(owned)


@pytest.mark.parametrize(("method", "name", "extra"), UI_URLS)
def test_anonymous_users_are_sent_to_log_in_on_every_page(
    client: Client, owned: dict[str, Any], method: str, name: str, extra: str | None
) -> None:
    response = call(client, method, url_for(name, extra, owned))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert_unchanged(owned)


@pytest.mark.parametrize(("method", "name", "extra"), [*API_URLS, ("get", "experiments-api:study-list", "")])
def test_anonymous_api_calls_are_refused(
    client: Client, owned: dict[str, Any], method: str, name: str, extra: str | None
) -> None:
    url = reverse(name) if extra == "" else url_for(name, extra, owned)

    response = call(client, method, url)

    assert response.status_code in (401, 403)
    assert_unchanged(owned)


def test_study_lists_show_only_own_and_shared_studies(client: Client, owned: dict[str, Any]) -> None:
    other = UserFactory(username="colleague")
    shared = StudyFactory(title="Shared with colleague")
    shared.collaborators.add(other)
    client.force_login(other)

    page = client.get(reverse("experiments:study-list")).content.decode()
    api = client.get(reverse("experiments-api:study-list")).json()

    assert "Shared with colleague" in page
    assert "Secret study" not in page
    assert [s["title"] for s in api["results"]] == ["Shared with colleague"]
    assert client.get(reverse("experiments:study-dashboard", args=[shared.slug])).status_code == 200


def test_draft_study_images_are_hidden_from_others_but_not_from_the_owner(
    client: Client, owned: dict[str, Any], researcher: Any
) -> None:
    url = owned["stimulus"].image_url

    assert client.get(url).status_code == 404
    client.force_login(UserFactory(username="intruder"))
    assert client.get(url).status_code == 404
    client.force_login(researcher)
    assert client.get(url).status_code == 200


def test_staff_researchers_see_only_their_studies_in_the_admin(client: Client, owned: dict[str, Any]) -> None:
    staff = UserFactory(username="staff-researcher", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="experiments"))
    mine = StudyFactory(owner=staff, title="Staff study")
    StimulusFactory(study=mine)
    client.force_login(staff)

    changelist = client.get(reverse("admin:experiments_study_changelist")).content.decode()
    stimuli = client.get(reverse("admin:experiments_stimulus_changelist")).content.decode()
    foreign = client.get(reverse("admin:experiments_study_change", args=[owned["study"].pk]))
    foreign_stimulus = client.get(reverse("admin:experiments_stimulus_change", args=[owned["stimulus"].pk]))
    own = client.get(reverse("admin:experiments_study_change", args=[mine.pk]))

    assert "Staff study" in changelist
    assert "Secret study" not in changelist
    assert owned["study"].slug not in stimuli
    assert mine.slug in stimuli
    assert foreign.status_code == 302
    assert foreign_stimulus.status_code == 302
    assert own.status_code == 200
