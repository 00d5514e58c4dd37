from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _


def content_security_policy(
    *, frame_ancestors: tuple[str, ...] = ("'none'",), form_action: tuple[str, ...] = ("'self'",)
) -> str:
    """The one policy of every page: no external origin, no inline script or style.

    Only who may frame the page and where its forms may post vary (an MTurk study's pages).
    """
    return (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; "
        f"base-uri 'self'; frame-ancestors {' '.join(frame_ancestors)}; form-action {' '.join(form_action)}"
    )


class ContentSecurityPolicyMiddleware:
    """Allow no external origin on any page: scripts, styles, images and fonts are our own.

    Inline scripts and `style` attributes are refused too, so templates pass data with
    `json_script` and keep styling in static CSS.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            # Forms post to this site only; the pages of an MTurk study set their own policy
            # that adds MTurk's submit hosts (ratings.views._panel_headers).
            response["Content-Security-Policy"] = content_security_policy()
        return response


class RejectNulCharactersMiddleware:
    """Answer 400 to a URL or form field with a NUL character, before any view runs.

    PostgreSQL refuses NUL in text and JSON, so such a value would otherwise reach a query and
    fail there with a 500. Django's forms and DRF's fields refuse NUL themselves; the URL
    converters, query strings and plain form posts (the participant pages) do not.
    """

    FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._has_nul(request):
            return HttpResponse(
                _("The request contains a NUL character."),
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)

    def _has_nul(self, request: HttpRequest) -> bool:
        if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.GET.items()):
            return True
        # Form posts only (Django's CSRF check parses them anyway, and DRF reuses the parsed
        # form); a JSON body is left for the view to read.
        if request.method == "POST" and request.content_type in self.FORMS:
            return any("\x00" in v for k, values in request.POST.lists() for v in [k, *values])
        return False
