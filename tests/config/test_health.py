import pytest
from django.test import Client, override_settings


@pytest.mark.django_db
def test_healthz_reports_database_and_broker_up(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True


@pytest.mark.django_db
@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:9/0")
def test_healthz_is_503_naming_the_broker_when_redis_is_down(client: Client) -> None:
    from config.celery import app

    # given a Celery app pointed at a port where nothing listens
    app.conf.broker_url = "redis://127.0.0.1:9/0"
    try:
        # when
        response = client.get("/healthz")
    finally:
        from django.conf import settings

        app.conf.broker_url = settings.REDIS_URL

    # then
    assert response.status_code == 503
    body = response.json()
    assert body["broker"]["ok"] is False
    assert body["database"]["ok"] is True
    assert body["status"] == "unavailable"
