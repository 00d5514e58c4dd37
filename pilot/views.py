"""The researcher's pilot pages: start a pilot, watch it, read its report, remove pilot data."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import DomainError
from experiments.selectors import study_get_for_user
from pilot.exceptions import PilotQueueUnavailable
from pilot.forms import PilotStartForm
from pilot.models import PilotRun
from pilot.selectors import participants_needed, pilot_data_counts, pilot_run_get, pilot_run_list
from pilot.services import pilot_base_url, pilot_data_remove, pilot_run_start


@login_required
@require_http_methods(["GET", "POST"])
def pilot_list(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user(user=request.user, slug=slug, change=request.method == "POST")
    form = PilotStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = pilot_run_start(
                study=study,
                user=request.user,
                base_url=pilot_base_url(request.build_absolute_uri("/")),
                **form.options(),
            )
        except PilotQueueUnavailable as exc:
            # Saved as pending: the sweep starts it when the queue is back.
            messages.error(request, str(exc))
            run = pilot_run_get(study=study, pk=exc.run_id)
            context = {"study": study, "run": run, "status": _status(run)}
            return render(request, "pilot/pilot_detail.html", context, status=503)
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("pilot:detail", slug=study.slug, pk=run.pk)
    context = {
        "study": study,
        "form": form,
        "runs": pilot_run_list(study=study)[:20],
        "counts": pilot_data_counts(study=study),
        "plan": participants_needed(study),
    }
    return render(request, "pilot/pilot_list.html", context, status=400 if request.method == "POST" else 200)


@login_required
@require_GET
def pilot_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    study = study_get_for_user(user=request.user, slug=slug)
    run = pilot_run_get(study=study, pk=pk)
    return render(request, "pilot/pilot_detail.html", {"study": study, "run": run, "status": _status(run)})


def _status(run: PilotRun) -> dict:
    return {
        "status": run.status,
        "label": str(run.get_status_display()),
        "message": run.progress_message,
        "finished": run.is_finished,
    }


@login_required
@require_GET
def pilot_status(request: HttpRequest, slug: str, pk: int) -> JsonResponse:
    study = study_get_for_user(user=request.user, slug=slug)
    return JsonResponse(_status(pilot_run_get(study=study, pk=pk)))


@login_required
@require_GET
def pilot_plot(request: HttpRequest, slug: str, pk: int) -> FileResponse:
    study = study_get_for_user(user=request.user, slug=slug)
    run = pilot_run_get(study=study, pk=pk)
    if not run.plot or not default_storage.exists(run.plot):
        raise Http404("No plot")
    return FileResponse(default_storage.open(run.plot, "rb"), content_type="image/png")


@login_required
@require_GET
def pilot_modes_plot(request: HttpRequest, slug: str, pk: int) -> FileResponse:
    study = study_get_for_user(user=request.user, slug=slug)
    run = pilot_run_get(study=study, pk=pk)
    name = ((run.report or {}).get("modes") or {}).get("plot")
    if not name or not default_storage.exists(name):
        raise Http404("No plot")
    return FileResponse(default_storage.open(name, "rb"), content_type="image/png")


@login_required
@require_POST
def pilot_remove(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user(user=request.user, slug=slug, change=True)
    counts = pilot_data_remove(study=study)
    messages.success(
        request,
        _("Pilot data removed: %(participants)s participants, %(ratings)s ratings, %(analyses)s analyses.")
        % counts,
    )
    return redirect("pilot:list", slug=study.slug)
