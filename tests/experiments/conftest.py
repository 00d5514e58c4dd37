from typing import Any

import pytest


@pytest.fixture
def other_researcher(db: None) -> Any:
    from tests.factories import UserFactory

    return UserFactory(username="other-researcher")
