"""One small world for the security tests: a rated, open study of an owner with a collaborator,
a draft study, one participant session, a finished analysis run, and a client per role.

Roles: anonymous, participant (no account: a browser that entered the study and holds its
session token), owner, collaborator, other (another researcher), staff (is_staff, not superuser,
with every permission of our apps), superuser.
"""

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from analysis import services as analysis_services
from analysis.benchmark import services as benchmark_services
from analysis.benchmark.models import MetricBenchmark
from analysis.models import AnalysisRun
from experiments.models import Stimulus, StimulusImport, Study
from pilot.models import PilotRun
from ratings.models import Participant, RatingSession
from ratings.panels import PanelEntry
from ratings.services import participant_enter
from tests.factories import StimulusFactory, StudyFactory, UserFactory, png_bytes, rated_study_create

ROLES = ("anonymous", "participant", "owner", "collaborator", "other", "staff", "superuser")


@dataclass
class World:
    study: Study
    draft: Study
    stimulus: Stimulus
    draft_stimulus: Stimulus
    stimulus_import: StimulusImport
    run: AnalysisRun
    benchmark: MetricBenchmark
    pilot: PilotRun
    session: RatingSession
    participant: Participant
    users: dict[str, Any] = field(default_factory=dict)

    def client(self, role: str, **kwargs: Any) -> Client:
        client = Client(**kwargs)
        if role == "participant":
            # A real participant's browser: it entered the study, so it has the CSRF cookie and
            # knows its session token; it has no account.
            client.get(f"/s/{self.study.slug}/?pid=someone")
        elif role != "anonymous":
            client.force_login(self.users[role])
        return client


def build_world(**study_fields: Any) -> World:
    owner = UserFactory(username="owner")
    collaborator = UserFactory(username="collaborator")
    other = UserFactory(username="other")
    staff = UserFactory(username="staff", is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["experiments", "ratings", "analysis"])
    )
    superuser = UserFactory(username="superuser", is_staff=True, is_superuser=True)
    # Staff and the other researcher have studies of their own: they must not see the owner's.
    StudyFactory(owner=other, title="Other's study")
    StudyFactory(owner=staff, title="Staff's study")

    study, items, _people = rated_study_create(
        owner=owner, stimuli=4, raters=4, stimuli_per_session=2, title="Owner's study", **study_fields
    )
    study.collaborators.add(collaborator)
    run = analysis_services.analysis_run_start(study=study, method="mos", enqueue=False)
    analysis_services.analysis_run_execute(run_id=run.id)
    run.refresh_from_db()
    # A metric benchmark of that run, through the real upload and job services.
    predictions = "stimulus,metric,score\n" + "".join(
        f"{item.position},toy,{k * 1.5 + (k % 2)}\n" for k, item in enumerate(items)
    )
    benchmark = benchmark_services.metric_benchmark_start(
        run=run, content=predictions.encode(), filename="preds.csv", n_boot=20, enqueue=False
    )
    benchmark_services.metric_benchmark_execute(benchmark_id=benchmark.pk)
    benchmark.refresh_from_db()
    study.status = Study.Status.OPEN
    study.save(update_fields=["status"])
    entry = PanelEntry(panel=study.panel, external_id="panel-worker-1", data={"pid": "panel-worker-1"})
    session = participant_enter(study=study, entry=entry, consent=True)

    draft = StudyFactory(owner=owner, title="Owner's draft")
    draft.collaborators.add(collaborator)
    draft_stimulus = StimulusFactory(study=draft)
    stimulus_import = StimulusImport.objects.create(study=study, source="imports/x.zip")
    plot = default_storage.save(f"pilot/{study.slug}/plot.png", ContentFile(png_bytes()))
    modes_plot = default_storage.save(f"pilot/{study.slug}/modes.png", ContentFile(png_bytes()))
    pilot = PilotRun.objects.create(
        study=study,
        raters=4,
        base_url="http://127.0.0.1:1",
        status=PilotRun.Status.DONE,
        plot=plot,
        report={"modes": {"plot": modes_plot}},
    )
    return World(
        study=study,
        draft=draft,
        stimulus=items[0],
        draft_stimulus=draft_stimulus,
        stimulus_import=stimulus_import,
        run=run,
        benchmark=benchmark,
        pilot=pilot,
        session=session,
        participant=session.participant,
        users={
            "owner": owner,
            "collaborator": collaborator,
            "other": other,
            "staff": staff,
            "superuser": superuser,
        },
    )
