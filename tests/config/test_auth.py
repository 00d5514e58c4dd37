import pytest
from django.core.cache import cache
from django.test import Client

from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


@pytest.mark.django_db
def test_login_locks_out_after_five_failures_even_with_the_right_password(client: Client) -> None:
    # given
    UserFactory(username="alice")
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()

    # when the right password comes after five failures
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-123456"})

    # then it is refused with the reason
    assert response.status_code == 200
    assert "Too many failed log-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_login_succeeds_after_fewer_failures_and_resets_the_count(client: Client) -> None:
    UserFactory(username="bob")
    for _ in range(4):
        client.post("/accounts/login/", {"username": "bob", "password": "wrong"})

    response = client.post("/accounts/login/", {"username": "bob", "password": "pw-123456"})

    assert response.status_code == 302
    assert client.session["_auth_user_id"]
