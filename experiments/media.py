"""Serving stimulus files: by content hash, with long-lived caching, drafts only to researchers."""

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from experiments.models import Stimulus, Study
from experiments.selectors import study_list_for_user

CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}


@require_GET
def stimulus_image(request: HttpRequest, sha256: str, ext: str) -> FileResponse:
    if ext not in CONTENT_TYPES or len(sha256) != 64:
        raise Http404("No such image")
    stimuli = Stimulus.objects.filter(sha256=sha256)
    public = stimuli.exclude(study__status=Study.Status.DRAFT).exists()
    if not public and not stimuli.filter(study__in=study_list_for_user(user=request.user)).exists():
        raise Http404("No such image")
    name = f"stimuli/{sha256[:2]}/{sha256}.{ext}"
    try:
        handle = default_storage.open(name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404("No such image") from None
    response = FileResponse(handle, content_type=CONTENT_TYPES[ext])
    # The URL names the content: it never changes, so it may be cached for a year.
    response["Cache-Control"] = "public, max-age=31536000, immutable" if public else "private, max-age=3600"
    return response
