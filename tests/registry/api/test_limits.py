"""Request limits before parsing (registry.api.limits: body size, JSON nesting depth) and exact types on writes."""

from __future__ import annotations

import sys

import pytest
from fastapi.testclient import TestClient

from bridge.app import create_app
from registry.api.limits import MAX_BODY_BYTES, MAX_JSON_DEPTH, json_depth

JSON = {"content-type": "application/json"}


@pytest.fixture
def api(sqlite_engine):
    with TestClient(create_app(sqlite_engine)) as client:
        yield client


@pytest.mark.parametrize("body, depth", [
    (b"{}", 1), (b'{"a": [1, {"b": []}]}', 4), (b'"[[[["', 0), (b'["\\"[[[", {"x": "]]]"}]', 2), (b"", 0),
])
def test_json_depth_counts_brackets_outside_strings(body, depth):
    assert json_depth(body) == depth


def test_nested_brackets_are_refused_before_the_parser_sees_them(api):
    """200 KB of brackets segfaulted the server: py_ecc lets the C parser recurse 100,000 deep."""
    assert sys.getrecursionlimit() >= 1000
    response = api.post("/organizations", content=b"[" * 100_000 + b"]" * 100_000, headers=JSON)
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
    assert f"deeper than {MAX_JSON_DEPTH} levels" in response.json()["detail"]
    assert api.get("/health").status_code == 200


def test_a_body_at_the_depth_limit_reaches_the_route(api):
    body = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert api.post("/organizations", content=body, headers=JSON).status_code == 401  # the key check, not the limit


def test_an_oversized_body_is_refused_by_its_declared_length(api):
    response = api.post("/organizations", content=b" " * (MAX_BODY_BYTES + 1), headers=JSON)
    assert response.status_code == 413 and response.json()["status"] == 413


def test_an_oversized_body_without_a_declared_length_is_refused_as_it_streams(api):
    def chunks():
        for _ in range(100):
            yield b" " * 65_536

    response = api.post("/organizations", content=chunks(), headers=JSON)  # chunked: no content-length
    assert response.status_code == 413 and "over 1,000,000 bytes" in response.json()["detail"]


@pytest.mark.parametrize("change, field", [
    ({"quantity": True}, "quantity"),  # retired 1 t
    ({"quantity": "5"}, "quantity"),
    ({"quantity": 1.0}, "quantity"),
    ({"account_id": "2"}, "account_id"),
    ({"serialization": " ICR-ISL-354-78040-14-R-0-2023 "}, "serialization"),
])
def test_irreversible_writes_take_exact_types(sqlite_engine, change, field):
    from registry.api.auth import create_api_key
    from registry.db import transaction
    from registry.domain.enums import ApiKeyRole

    with transaction(sqlite_engine) as s:
        _, key = create_api_key(s, name="admin", role=ApiKeyRole.administrator)
    body = {"account_id": 1, "serialization": "ICR-ISL-354-78040-14-R-0-2023", "quantity": 1, **change}
    with TestClient(create_app(sqlite_engine)) as api:
        response = api.post("/retirements", json=body, headers={"X-API-Key": key})
    assert response.status_code == 422 and response.json()["field"] == field


@pytest.mark.parametrize("name, status", [("Tro\x00ll", 422), ("bell\x07", 422), ("tab\tand\nline", 401)])
def test_control_characters_in_request_text_are_refused_before_the_database(api, name, status):
    """PostgreSQL cannot store NUL (it answered as a number out of range) and XML none of these."""
    response = api.post("/organizations", json={"name": name})
    assert response.status_code == status
    if status == 422:
        assert "control character" in response.json()["detail"]


def test_writes_are_rate_limited_per_key_and_per_anonymous_client(sqlite_engine, monkeypatch):
    from registry.api.auth import create_api_key
    from registry.db import transaction
    from registry.domain.enums import ApiKeyRole

    monkeypatch.setenv("ICR_WRITES_PER_MINUTE", "3")
    monkeypatch.setenv("ICR_ANONYMOUS_WRITES_PER_MINUTE", "2")
    with transaction(sqlite_engine) as s:
        _, key = create_api_key(s, name="admin", role=ApiKeyRole.administrator)
    with TestClient(create_app(sqlite_engine)) as api:
        anonymous = [api.post("/organizations", json={"name": "x"}).status_code for _ in range(3)]
        assert anonymous == [401, 401, 429]
        keyed = [api.post("/organizations", json={"name": f"Org {i}"}, headers={"X-API-Key": key})
                 for i in range(4)]
        assert [r.status_code for r in keyed] == [201, 201, 201, 429]
        assert int(keyed[-1].headers["retry-after"]) >= 1 and keyed[-1].json()["status"] == 429
        assert api.get("/organizations").status_code == 200  # reads are not throttled


def test_the_write_window_slides():
    from registry.api.limits import WriteRate

    now = [0.0]
    rate = WriteRate(per_key=2, per_address=1, clock=lambda: now[0])
    assert rate.admit("key:1", True) is None and rate.admit("key:1", True) is None
    assert rate.admit("key:1", True) == pytest.approx(60)
    now[0] = 30.0
    assert rate.admit("key:1", True) == pytest.approx(30)
    now[0] = 60.5
    assert rate.admit("key:1", True) is None
