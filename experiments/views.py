from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from experiments.selectors import study_get_for_user, study_list_for_user


@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    studies = study_list_for_user(user=request.user).order_by("-created_at")
    return render(request, "experiments/study_list.html", {"studies": studies})


@login_required
def study_detail(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user(user=request.user, slug=slug)
    return render(request, "experiments/study_detail.html", {"study": study})
