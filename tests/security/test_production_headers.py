"""Responses under the production security settings: HTTPS only, HSTS, secure cookies, and a
Content Security Policy allowing no external origin on participant and researcher pages.
(`manage.py check --deploy` with zero warnings: tests/config/test_settings.py.)"""

import importlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from experiments.models import Study
from tests.factories import UserFactory
from tests.ratings.conftest import make_study
from tests.security.world import World, build_world

pytestmark = pytest.mark.django_db

SECURITY_SETTINGS = (
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "X_FRAME_OPTIONS",
    "SESSION_COOKIE_HTTPONLY",
    "SECURE_PROXY_SSL_HEADER",
)
# What a policy may name as a source: nothing outside this site.
OWN_SOURCES = {"'self'", "'none'", "data:", "blob:"}


@pytest.fixture
def production() -> Iterator[None]:
    """The security settings exactly as config.settings.production sets them."""
    prod = importlib.import_module("config.settings.production")
    with override_settings(**{name: getattr(prod, name) for name in SECURITY_SETTINGS}):
        yield


@pytest.fixture
def world(production: None) -> World:
    return build_world()


def https(client: Client, path: str, **kwargs: Any) -> Any:
    return client.get(path, secure=True, **kwargs)


def pages(world: World) -> dict[str, tuple[str, str]]:
    """name -> (role, path) of participant and researcher pages."""
    token = {"slug": world.study.slug, "token": world.session.token}
    return {
        "study link": ("anonymous", reverse("ratings:study-entry", args=[world.study.slug])),
        "session page": ("anonymous", reverse("ratings:session", kwargs=token)),
        "log-in": ("anonymous", reverse("login")),
        "study list": ("owner", reverse("experiments:study-list")),
        "study": ("owner", reverse("experiments:study-detail", args=[world.study.slug])),
        "gallery": ("owner", reverse("experiments:stimulus-list", args=[world.study.slug])),
        "preview": ("owner", reverse("experiments:study-preview", args=[world.study.slug])),
        "dashboard": ("owner", reverse("experiments:study-dashboard", args=[world.study.slug])),
        "analysis run": ("owner", reverse("analysis:run-detail", args=[world.run.pk])),
        "API": ("owner", reverse("experiments-api:study-list")),
        "API docs": ("anonymous", reverse("api-docs")),
        "admin": ("superuser", reverse("admin:index")),
    }


def csp_sources(policy: str) -> dict[str, list[str]]:
    directives = [d.strip().split() for d in policy.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def test_plain_http_is_redirected_to_https_and_the_proxys_https_header_is_trusted(production: None) -> None:
    study = make_study()
    url = reverse("ratings:study-entry", args=[study.slug])

    plain = Client().get(url)
    proxied = Client().get(url, HTTP_X_FORWARDED_PROTO="https")

    assert plain.status_code == 301
    assert plain["Location"].startswith("https://")
    assert proxied.status_code == 200


def test_every_page_has_hsts_a_csp_without_external_origins_and_no_inline_script(world: World) -> None:
    for name, (role, path) in pages(world).items():
        response = https(world.client(role), path)

        # HSTS and the hardening headers
        assert response.status_code == 200, name
        assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload", name
        assert response["X-Content-Type-Options"] == "nosniff", name
        assert response["Referrer-Policy"] == "same-origin", name
        assert response["X-Frame-Options"] == "DENY", name
        # a policy that names nothing outside this site
        policy = response["Content-Security-Policy"]
        sources = csp_sources(policy)
        foreign = {d: [s for s in srcs if s not in OWN_SOURCES] for d, srcs in sources.items()}
        assert {d: s for d, s in foreign.items() if s} == {}, f"{name}: {policy}"
        assert sources["default-src"] == ["'self'"], name
        assert sources["script-src"] == ["'self'"], name
        assert sources["object-src"] == ["'none'"], name
        assert sources["frame-ancestors"] == ["'none'"], name
        assert "unsafe" not in policy, name
        # and pages that need no exception from it
        if name in ("API", "admin"):
            continue  # JSON; Django's own admin templates
        html = response.content.decode()
        inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)
        assert inline == [], f"{name}: inline scripts {inline}"
        assert not re.search(r"""(src|href)=["'](https?:)?//""", html), name
        assert " style=" not in html, name


def test_an_mturk_study_may_be_framed_by_mturk_and_post_to_it_only(production: None) -> None:
    study = make_study(panel=Study.Panel.MTURK)

    policy = https(
        Client(),
        reverse("ratings:study-entry", args=[study.slug])
        + "?assignmentId=a1&hitId=h&workerId=w&turkSubmitTo=https://www.mturk.com",
    )["Content-Security-Policy"]
    sources = csp_sources(policy)

    assert all(s == "'self'" or s.endswith(".mturk.com") for s in sources["frame-ancestors"])
    assert all(s == "'self'" or s.endswith("mturk.com") for s in sources["form-action"])
    assert sources["script-src"] == ["'self'"]


def test_cookies_are_secure_and_http_only(production: None) -> None:
    UserFactory(username="owner")
    client = Client()
    https(client, reverse("login"))  # sets the CSRF cookie

    response = client.post(reverse("login"), {"username": "owner", "password": "pw-123456"}, secure=True)

    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"]
    assert session["httponly"]
    assert session["samesite"] == "Lax"
    assert client.cookies["csrftoken"]["secure"]
