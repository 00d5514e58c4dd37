"""The researcher's pages: thin views over experiments.selectors and experiments.services."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from config.auth import authenticated_user
from config.errors import DomainError
from experiments import selectors, services
from experiments.dashboard import study_dashboard
from experiments.exceptions import ImportQueueUnavailable
from experiments.forms import (
    AnnotationTaskFormSet,
    LaunchConfirmForm,
    PerspectiveFormSet,
    QuestionFormSet,
    ShareForm,
    StimulusUploadForm,
    StudyCreateForm,
    StudyDuplicateForm,
    StudyForm,
    StudyPayForm,
    question_initial,
)
from experiments.imports.problems import problem_text
from experiments.models import Stimulus, StimulusImport, Study


def analysis_url(study: Study) -> str:
    return reverse("analysis:run-list", kwargs={"slug": study.slug})


@login_required
@require_GET
def study_list(request: HttpRequest) -> HttpResponse:
    archived = request.GET.get("archived") == "1"
    rows = [
        {"study": study, "progress": _progress_percent(study)}
        for study in selectors.study_list_with_progress(user=request.user, archived=archived)
    ]
    return render(request, "experiments/study_list.html", {"rows": rows, "archived": archived})


def _progress_percent(study: Any) -> int:
    """Valid ratings so far as a share of what the target asks (test stimuli × target)."""
    wanted = study.stimulus_count * study.target_ratings
    return 0 if not wanted else min(100, round(100 * study.valid_ratings / wanted))


@login_required
def study_create(request: HttpRequest) -> HttpResponse:
    form = StudyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        study = services.study_create(owner=authenticated_user(request), **form.cleaned_data)
        messages.success(
            request,
            _("Study created with the AIGCIQA2023 perspectives. Adjust the settings, then upload stimuli."),
        )
        return redirect("experiments:study-edit", slug=study.slug)
    return render(request, "experiments/study_create.html", {"form": form})


@login_required
@require_GET
def study_detail(request: HttpRequest, slug: str) -> HttpResponse:
    study = selectors.study_get_for_user(user=request.user, slug=slug)
    participant_url = request.build_absolute_uri(reverse("ratings:study-entry", args=[study.slug]))
    counts = dict(study.stimuli.values_list("role").annotate(n=Count("id")).values_list("role", "n"))
    context = {
        "study": study,
        "counts": {role: counts.get(role, 0) for role in Stimulus.Role.values},
        "perspectives": study.perspectives.order_by("order"),
        "imports": study.imports.select_related("created_by")[:10],
        "has_ratings": selectors.study_has_ratings(study=study),
        "participant_url": participant_url,
        "panel_links": selectors.study_panel_links(study=study, participant_url=participant_url),
        "analysis_url": analysis_url(study),
        "role": selectors.study_role(user=request.user, study=study),
    }
    return render(request, "experiments/study_detail.html", context)


@login_required
def study_edit(request: HttpRequest, slug: str) -> HttpResponse:
    study = selectors.study_get_for_user(user=request.user, slug=slug, change=True)
    locked = selectors.study_has_ratings(study=study)
    data = request.POST or None
    form = StudyForm(data, instance=Study.objects.get(pk=study.pk), locked=locked)
    formset: Any = PerspectiveFormSet(data, initial=_perspective_initial(study), prefix="p")
    questions: Any = QuestionFormSet(data, initial=question_initial(study.questionnaire), prefix="q")
    # A post without the task forms (an older page, a script) leaves the tasks as they are.
    task_data = data if data is not None and "a-TOTAL_FORMS" in data else None
    tasks: Any = AnnotationTaskFormSet(task_data, initial=_task_initial(study), prefix="a")
    if locked:
        _lock_lists(formset, questions, tasks)
    tasks_valid = task_data is None or tasks.is_valid()
    if request.method == "POST" and _edit_valid(form, formset, questions) and tasks_valid:
        fields = form.service_fields()
        if not locked:
            fields["questionnaire"] = questions.questions()
        try:
            services.study_update(
                study=study,
                fields=fields,
                perspectives=formset.perspectives(),
                annotation_tasks=tasks.tasks() if task_data is not None else None,
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Saved."))
            section = request.POST.get("section", "")
            anchor = f"#{section}" if section.isidentifier() else ""
            return redirect(reverse("experiments:study-edit", args=[study.slug]) + anchor)
    context = {
        "study": study,
        "form": form,
        "formset": formset,
        "questions": questions,
        "tasks": tasks,
        "has_ratings": locked,
    }
    return render(
        request, "experiments/study_edit.html", context, status=400 if request.method == "POST" else 200
    )


def _perspective_initial(study: Study) -> list[dict[str, Any]]:
    return [
        {
            "key": p.key,
            "label": p.label,
            "question": p.question,
            "level_descriptions": p.level_descriptions,
            "target_half_width": p.target_half_width,
            "ORDER": i,
        }
        for i, p in enumerate(study.perspectives.order_by("order"), start=1)
    ]


def _task_initial(study: Study) -> list[dict[str, Any]]:
    return [
        {"key": t.key, "kind": t.kind, "label": t.label, "instructions": t.instructions, "ORDER": i}
        for i, t in enumerate(study.annotation_tasks.order_by("order"), start=1)
    ]


def _lock_lists(perspectives: Any, questions: Any, tasks: Any) -> None:
    # Ratings exist: the perspective and task lists and the questionnaire stay as they are;
    # wording may change.
    for f in perspectives.forms:
        for name in ("key", "ORDER", "DELETE"):
            f.fields[name].disabled = True
    for f in tasks.forms:
        for name in ("key", "kind", "ORDER", "DELETE"):
            f.fields[name].disabled = True
    for f in questions.forms:
        for field in f.fields.values():
            field.disabled = True


def _edit_valid(form: StudyForm, formset: Any, questions: Any) -> bool:
    valid = all([form.is_valid(), formset.is_valid(), questions.is_valid()])
    levels = form.scale_levels() if valid else None
    if levels is not None:
        for f in formset.forms:
            described = (getattr(f, "cleaned_data", None) or {}).get("level_descriptions") or []
            if described and len(described) != levels:
                f.add_error(
                    "level_descriptions",
                    _("%(n)d descriptions for a %(levels)d-level scale: give one per level, or none.")
                    % {"n": len(described), "levels": levels},
                )
                valid = False
    return valid


def _status_action(request: HttpRequest, slug: str, action: Any, done: str) -> HttpResponse:
    study = selectors.study_get_for_user(user=request.user, slug=slug, change=True)
    try:
        action(study=study)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect("experiments:study-detail", slug=study.slug)


@login_required
def study_launch(request: HttpRequest, slug: str) -> HttpResponse:
    """The launch checklist: warnings in words, launched once the researcher confirms them."""
    study = selectors.study_get_for_user(user=request.user, slug=slug, change=True)
    warnings = selectors.study_launch_warnings(study=study)
    form = LaunchConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if not warnings or form.cleaned_data["confirm"]:
            return _status_action(
                request, slug, services.study_launch, _("The study is open to participants.")
            )
        form.add_error("confirm", _("Tick the box to launch with these warnings, or fix them first."))
    context = {"study": study, "warnings": warnings, "form": form}
    return render(
        request, "experiments/study_launch.html", context, status=400 if request.method == "POST" else 200
    )


@login_required
@require_POST
def study_pause(request: HttpRequest, slug: str) -> HttpResponse:
    return _status_action(
        request, slug, services.study_pause, _("The study is paused: no new sessions start.")
    )


@login_required
@require_POST
def study_close(request: HttpRequest, slug: str) -> HttpResponse:
    return _status_action(request, slug, services.study_close, _("The study is closed."))


@login_required
@require_GET
def stimulus_list(request: HttpRequest, slug: str) -> HttpResponse:
    study = selectors.study_get_for_user(user=request.user, slug=slug)
    role = request.GET.get("role", "") if request.GET.get("role", "") in Stimulus.Role.values else ""
    generator = request.GET.get("generator", "")[:100]
    q = request.GET.get("q", "")[:200]
    page = Paginator(selectors.stimulus_list(study=study, role=role, generator=generator, q=q), 48).get_page(
        request.GET.get("page")
    )
    context = {
        "study": study,
        "page": page,
        "role": role,
        "generator": generator,
        "q": q,
        "roles": Stimulus.Role.choices,
        "generators": selectors.study_generators(study=study),
    }
    return render(request, "experiments/stimulus_list.html", context)


@login_required
@require_GET
def study_preview(request: HttpRequest, slug: str) -> HttpResponse:
    study = selectors.study_get_for_user(user=request.user, slug=slug)
    stimuli = study.stimuli.order_by("position")
    stimulus = None
    if request.GET.get("stimulus", "").isdigit():
        stimulus = stimuli.filter(pk=int(request.GET["stimulus"])).first()
    if stimulus is None:
        stimulus = stimuli.filter(role=Stimulus.Role.TEST).first() or stimuli.first()
    neighbours = {}
    if stimulus is not None:
        neighbours = {
            "previous": stimuli.filter(position__lt=stimulus.position).order_by("-position").first(),
            "next": stimuli.filter(position__gt=stimulus.position).first(),
        }
    context = {
        "study": study,
        "stimulus": stimulus,
        # The shape ratings/_trial.html takes: [{key, label, question, levels}].
        "perspectives": [
            {"key": p.key, "label": p.label, "question": p.question, "levels": list(p.level_descriptions)}
            for p in study.perspectives.order_by("order")
        ],
        "annotation_tasks": [
            {"key": t.key, "kind": t.kind, "label": t.label, "instructions": t.instructions}
            for t in study.annotation_tasks.order_by("order")
        ],
        **neighbours,
    }
    return render(request, "experiments/study_preview.html", context)


@login_required
def stimulus_import_create(request: HttpRequest, slug: str) -> HttpResponse:
    study = selectors.study_get_for_user(user=request.user, slug=slug, change=True)
    form = StimulusUploadForm(request.POST or None, request.FILES or None)
    wants_json = "application/json" in request.headers.get("Accept", "")
    if request.method == "POST":
        if form.is_valid():
            try:
                stimulus_import = services.stimulus_import_create(
                    study=study,
                    user=authenticated_user(request),
                    upload=form.cleaned_data["archive"],
                    kind=form.cleaned_data["kind"],
                )
            except ImportQueueUnavailable as exc:
                return _import_queue_unavailable(request, study, form, exc, wants_json=wants_json)
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                detail = reverse("experiments:import-detail", args=[study.slug, stimulus_import.pk])
                if wants_json:
                    status_url = reverse("experiments:import-status", args=[study.slug, stimulus_import.pk])
                    return JsonResponse(
                        {"id": stimulus_import.pk, "status_url": status_url, "detail_url": detail}, status=202
                    )
                return redirect(detail)
        if wants_json:
            return JsonResponse(
                {"errors": [str(e) for errors in form.errors.values() for e in errors]}, status=400
            )
    return render(
        request,
        "experiments/import_create.html",
        {"study": study, "form": form},
        status=400 if request.method == "POST" else 200,
    )


def _import_queue_unavailable(
    request: HttpRequest,
    study: Study,
    form: StimulusUploadForm,
    exc: ImportQueueUnavailable,
    *,
    wants_json: bool,
) -> HttpResponse:
    """503: the upload is saved as a pending import that a sweep queues when the broker is back."""
    detail = reverse("experiments:import-detail", args=[study.slug, exc.import_id])
    if wants_json:
        return JsonResponse(
            {"errors": [str(exc)], "code": exc.code, "id": exc.import_id, "detail_url": detail}, status=503
        )
    form.add_error(None, str(exc))
    return render(request, "experiments/import_create.html", {"study": study, "form": form}, status=503)


@login_required
@require_GET
def stimulus_import_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    study = selectors.study_get_for_user(user=request.user, slug=slug)
    stimulus_import = selectors.stimulus_import_get(study=study, pk=pk)
    context = {
        "study": study,
        "import": stimulus_import,
        "problems": [problem_text(p) for p in stimulus_import.problems],
        "status": import_status_dict(study, stimulus_import),
    }
    return render(request, "experiments/import_detail.html", context)


def import_status_dict(study: Study, stimulus_import: StimulusImport) -> dict[str, Any]:
    return {
        "id": stimulus_import.pk,
        "status": stimulus_import.status,
        "status_display": stimulus_import.get_status_display(),
        "progress": stimulus_import.progress,
        "message": stimulus_import.message,
        "imported_count": stimulus_import.imported_count,
        "problems": [problem_text(p) for p in stimulus_import.problems],
        "finished": stimulus_import.status in (StimulusImport.Status.DONE, StimulusImport.Status.FAILED),
        "gallery_url": reverse("experiments:stimulus-list", args=[study.slug]),
    }


@login_required
@require_GET
def stimulus_import_status(request: HttpRequest, slug: str, pk: int) -> JsonResponse:
    study = selectors.study_get_for_user(user=request.user, slug=slug)
    return JsonResponse(import_status_dict(study, selectors.stimulus_import_get(study=study, pk=pk)))


@login_required
@require_GET
def study_dashboard_page(request: HttpRequest, slug: str) -> HttpResponse:
    study = selectors.study_get_for_user(user=request.user, slug=slug)
    dashboard = study_dashboard(study=study)
    context = {
        "study": study,
        "dashboard": dashboard,
        "bars": histogram_bars(dashboard.as_dict()["histogram"]),
        "precision_bars": histogram_bars(dashboard.precision["ratio_bins"]) if dashboard.precision else [],
        "analysis_url": analysis_url(study),
        "pay_form": StudyPayForm(initial={"pay_per_participant": study.pay_per_participant}),
    }
    return render(request, "experiments/study_dashboard.html", context)


@login_required
@require_POST
def study_pay(request: HttpRequest, slug: str) -> HttpResponse:
    """Store the pay per participant (the dashboard's cost estimate)."""
    study = selectors.study_get_for_user(user=request.user, slug=slug)
    form = StudyPayForm(request.POST)
    if form.is_valid():
        services.study_update(
            study=study, fields={"pay_per_participant": form.cleaned_data["pay_per_participant"]}
        )
        messages.success(request, _("Pay per participant saved."))
    else:
        messages.error(
            request, _("The pay per participant must be a number of at least 0, with at most 2 decimals.")
        )
    return redirect("experiments:study-dashboard", slug=study.slug)


def histogram_bars(
    bins: list[dict[str, Any]], *, height: int = 160, width: int = 640
) -> list[dict[str, Any]]:
    """SVG geometry of the ratings-per-stimulus histogram (server-side: no inline styles needed)."""
    top = max([b["stimuli"] for b in bins] + [1])
    step = width / max(len(bins), 1)
    bars = []
    for i, b in enumerate(bins):
        h = round(height * b["stimuli"] / top, 1)
        bars.append(
            {
                **b,
                "x": round(i * step + 2, 1),
                "w": round(step - 4, 1),
                "y": round(height - h, 1),
                "h": h,
                "ty": round(height - h - 4, 1),
                "cx": round(i * step + step / 2, 1),
            }
        )
    return bars


@login_required
@require_GET
def study_dashboard_json(request: HttpRequest, slug: str) -> JsonResponse:
    study = selectors.study_get_for_user(user=request.user, slug=slug)
    data = study_dashboard(study=study).as_dict()
    data["bars"] = histogram_bars(data["histogram"])
    return JsonResponse(data)


@login_required
def study_sharing(request: HttpRequest, slug: str) -> HttpResponse:
    """Who else sees the study (viewers) or may change it (editors); owners and editors share it."""
    study = selectors.study_get_for_user(user=request.user, slug=slug)
    role = selectors.study_role(user=request.user, study=study)
    form = ShareForm(request.POST or None)
    if request.method == "POST":
        selectors.study_get_for_user(user=request.user, slug=slug, change=True)
        if form.is_valid():
            user = form.cleaned_data["username"]
            try:
                services.study_share(study=study, user=user, role=form.cleaned_data["role"])
            except DomainError as exc:
                form.add_error("username", str(exc))
            else:
                messages.success(
                    request,
                    _("%(user)s can now see this study as %(role)s.")
                    % {"user": user.get_username(), "role": form.cleaned_data["role"]},
                )
                return redirect("experiments:study-sharing", slug=study.slug)
    context = {
        "study": study,
        "form": form,
        "role": role,
        "editors": study.collaborators.order_by("username"),
        "viewers": study.viewers.order_by("username"),
    }
    return render(
        request, "experiments/study_sharing.html", context, status=400 if request.method == "POST" else 200
    )


@login_required
@require_POST
def study_unshare(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    study = selectors.study_get_for_user(user=request.user, slug=slug, change=True)
    user = study.collaborators.filter(pk=user_id).first() or study.viewers.filter(pk=user_id).first()
    if user is not None:
        services.study_unshare(study=study, user=user)
        messages.success(request, _("%(user)s no longer has access.") % {"user": user.get_username()})
    return redirect("experiments:study-sharing", slug=study.slug)


@login_required
def study_duplicate(request: HttpRequest, slug: str) -> HttpResponse:
    """A new study from this one: settings, perspectives, texts, questionnaire; stimuli optional."""
    study = selectors.study_get_for_user(user=request.user, slug=slug)
    form = StudyDuplicateForm(
        request.POST or None, initial={"title": _("Copy of %(title)s") % {"title": study.title}}
    )
    if request.method == "POST" and form.is_valid():
        copy = services.study_duplicate(
            study=study,
            owner=request.user,
            title=form.cleaned_data["title"],
            copy_stimuli=form.cleaned_data["copy_stimuli"],
        )
        messages.success(request, _("New draft study created from “%(title)s”.") % {"title": study.title})
        return redirect("experiments:study-detail", slug=copy.slug)
    return render(
        request,
        "experiments/study_duplicate.html",
        {"study": study, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def study_archive(request: HttpRequest, slug: str) -> HttpResponse:
    study = selectors.study_get_for_user(user=request.user, slug=slug, change=True)
    archived = request.POST.get("archived", "1") == "1"
    services.study_archive(study=study, archived=archived)
    if archived:
        messages.success(request, _("Study archived: it is hidden from your list (Show archived shows it)."))
    else:
        messages.success(request, _("Study restored to your list."))
    return redirect("experiments:study-detail", slug=study.slug)
