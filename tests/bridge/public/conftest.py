"""The app over a test module's ``world`` (its registry and live chain), shared by the module's tests."""

import pytest
from fastapi.testclient import TestClient

from bridge.app import create_app


@pytest.fixture(scope="module")
def client(world):
    with TestClient(create_app(world.engine, chains=[world.chain])) as c:
        yield c
