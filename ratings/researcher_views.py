"""The researcher's participants page: who took part, how it went, and what to tell the panel."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import DomainError
from experiments.models import Study
from experiments.selectors import study_get_for_user
from ratings.decisions import participant_decision_set
from ratings.forms import ParticipantDecisionForm, ParticipantForgetForm
from ratings.participants import (
    DECISION_LABELS,
    SORTS,
    ParticipantStatus,
    participant_get,
    participant_rows,
    rows_filter,
    stall_after,
    status_counts,
    user_owns_study,
)
from ratings.privacy import participant_forget

PAGE_SIZE = 100
FILTER_KEYS = ("status", "decision", "q", "sort")
SORT_LABELS = {
    "-started": gettext_lazy("newest first"),
    "started": gettext_lazy("oldest first"),
    "-time": gettext_lazy("longest time first"),
    "time": gettext_lazy("shortest time first"),
    "status": gettext_lazy("status"),
    "decision": gettext_lazy("decision"),
    "panel_id": gettext_lazy("panel id"),
}


def _filters(request: HttpRequest) -> dict[str, str]:
    """The list's filters from the query string; unknown values are ignored (all participants)."""
    status = request.GET.get("status", "")
    decision = request.GET.get("decision", "")
    sort = request.GET.get("sort", "-started")
    return {
        "status": status if status in ParticipantStatus.LABELS else "",
        "decision": decision if decision in DECISION_LABELS else "",
        "q": request.GET.get("q", "").strip()[:128],
        "sort": sort if sort.lstrip("-") in SORTS else "-started",
    }


def _list_url(study: Study, query: str) -> str:
    url = reverse("participants:list", kwargs={"slug": study.slug})
    return f"{url}?{query}" if query else url


def _back_query(request: HttpRequest) -> str:
    """The list's filters carried through a POST (rebuilt from known keys only: no open redirect)."""
    kept = {k: request.POST.get(f"back_{k}", "") for k in FILTER_KEYS}
    return urlencode({k: v for k, v in kept.items() if v})


@login_required
@require_GET
def participant_list(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user(user=request.user, slug=slug)
    filters = _filters(request)
    everyone = participant_rows(study=study)
    rows = rows_filter(
        everyone, status=filters["status"], decision=filters["decision"], q=filters["q"], sort=filters["sort"]
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in filters.items() if v})
    context = {
        "study": study,
        "page": page,
        "filters": filters,
        "query": query,
        "statuses": ParticipantStatus.CHOICES,
        "decisions": list(DECISION_LABELS.items()),
        "sorts": list(SORT_LABELS.items()),
        "counts": status_counts(everyone),
        "total": len(everyone),
        "decision_counts": {d: sum(r.decision == d for r in everyone) for d in DECISION_LABELS},
        "stall_minutes": int(stall_after(study).total_seconds() // 60),
        "is_owner": user_owns_study(request.user, study),
        "decision_form": ParticipantDecisionForm(),
    }
    return render(request, "ratings/participant_list.html", context)


@login_required
@require_POST
def participant_decide(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    study = study_get_for_user(user=request.user, slug=slug, change=True)
    participant = participant_get(study=study, code=code)
    form = ParticipantDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The decision must be approve, reject or follow the suggestion."))
    else:
        try:
            participant_decision_set(participant=participant, **form.cleaned_data)
        except DomainError as exc:
            messages.error(request, _("%(code)s: %(error)s") % {"code": code, "error": exc})
        else:
            messages.success(request, _("Decision for %(code)s saved.") % {"code": code})
    return redirect(_list_url(study, _back_query(request)))


@login_required
@require_http_methods(["GET", "POST"])
def participant_forget_page(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    """Confirm, then erase the participant's panel id (and, if asked, their ratings). Owner only."""
    study = study_get_for_user(user=request.user, slug=slug)
    participant = participant_get(study=study, code=code)
    if not user_owns_study(request.user, study):
        raise PermissionDenied(_("Only the study's owner may forget a participant."))
    form = ParticipantForgetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = participant_forget(
            participant=participant, delete_ratings=form.cleaned_data["delete_ratings"]
        )
        if result.ratings_deleted or form.cleaned_data["delete_ratings"]:
            text = _("Participant %(code)s and their %(n)d ratings were deleted.")
        else:
            text = _(
                "The panel id of participant %(code)s was erased; their ratings stay, under the code only."
            )
        messages.success(request, text % {"code": result.code, "n": result.ratings_deleted})
        return redirect("participants:list", slug=study.slug)
    context = {"study": study, "participant": participant, "form": form}
    return render(
        request, "ratings/participant_forget.html", context, status=400 if request.method == "POST" else 200
    )
