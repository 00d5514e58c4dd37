from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


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
            form_action = " ".join(["'self'", *settings.CSP_FORM_ACTION_EXTRA])
            response["Content-Security-Policy"] = (
                "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                "script-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; "
                f"base-uri 'self'; frame-ancestors 'none'; form-action {form_action}"
            )
        return response
