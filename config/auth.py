"""Researcher log-in with a lock-out after repeated failures; the logged-in researcher of a view."""

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from rest_framework.request import Request

from config import ratelimit

MAX_FAILURES = 5
LOCKOUT_SECONDS = 15 * 60


def authenticated_user(request: HttpRequest | Request) -> User:
    """The user of a view that requires a log-in (login_required, IsAuthenticated); 403 otherwise."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def _ident(request: HttpRequest | None, username: str) -> str:
    ip = ratelimit.client_ip(request) if request is not None else "unknown"
    return f"{username.strip().lower()}|{ip}"


class LockoutAuthenticationForm(AuthenticationForm):
    def clean(self) -> dict[str, Any]:
        username = self.data.get("username", "")
        ident = _ident(self.request, username)
        if ratelimit.count("login-fail", ident, window=LOCKOUT_SECONDS) >= MAX_FAILURES:
            raise ValidationError(
                _("Too many failed log-ins for this account from your address. Try again in 15 minutes."),
                code="locked_out",
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            ratelimit.hit("login-fail", ident, limit=MAX_FAILURES, window=LOCKOUT_SECONDS)
            raise
        ratelimit.reset("login-fail", ident, window=LOCKOUT_SECONDS)
        return cleaned


class LoginView(auth_views.LoginView):
    form_class = LockoutAuthenticationForm
