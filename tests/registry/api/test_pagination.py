"""One list envelope and one default limit everywhere (registry/api/pagination.py, issue 18)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bridge.app import create_app
from bridge.schema import create_schema
from registry.api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from registry.db import make_engine, transaction
from registry.operations.accounts import create_organization


@pytest.fixture
def client(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    create_schema(engine)
    with TestClient(create_app(engine)) as c:
        c.engine = engine
        yield c
    engine.dispose()


def _json_schema(operation: dict) -> dict:
    return operation["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})


def test_no_list_answers_a_bare_array_and_every_list_takes_the_same_page_parameters(client):
    doc = client.get("/openapi.json").json()
    lists, arrays, odd_limits = [], [], []
    for path, operations in doc["paths"].items():
        operation = operations.get("get")
        if operation is None:
            continue
        schema = _json_schema(operation)
        if schema.get("type") == "array":
            arrays.append(path)
        if schema.get("$ref", "").startswith("#/components/schemas/Paged_"):
            lists.append(path)
            params = {p["name"]: p["schema"] for p in operation.get("parameters", [])}
            if (params.get("limit", {}).get("default"), params.get("limit", {}).get("maximum"),
                    params.get("offset", {}).get("default")) != (DEFAULT_LIMIT, MAX_LIMIT, 0):
                odd_limits.append(path)
    assert arrays == [] and odd_limits == []
    # the five former array lists are envelopes now, with the others
    assert {"/organizations", "/accounts", "/balances", "/projects", "/deployments", "/retirements",
            "/webhooks/events", "/explorer/classes"} <= set(lists)
    assert doc["components"]["schemas"]["Page"]["required"] == ["offset", "limit", "total"]
    assert "Deprecation" in doc["info"]["description"]


def test_the_default_page_is_the_default_limit_with_the_total_in_headers(client):
    with transaction(client.engine) as s:
        for i in range(DEFAULT_LIMIT + 1):
            create_organization(s, f"organization {i}")
    first = client.get("/organizations")
    assert first.status_code == 200
    assert first.json()["page"] == {"offset": 0, "limit": DEFAULT_LIMIT, "total": DEFAULT_LIMIT + 1}
    assert len(first.json()["items"]) == DEFAULT_LIMIT and first.headers["x-total-count"] == str(DEFAULT_LIMIT + 1)
    assert f"offset={DEFAULT_LIMIT}" in first.headers["link"] and first.headers["link"].endswith('rel="next"')
    rest = client.get(first.headers["link"].split(">")[0].lstrip("<"))
    assert [o["name"] for o in rest.json()["items"]] == [f"organization {DEFAULT_LIMIT}"] and "link" not in rest.headers
    too_many = client.get("/organizations", params={"limit": MAX_LIMIT + 1})
    assert too_many.status_code == 422 and too_many.json()["field"] == "limit"


def test_a_computed_list_is_windowed_like_a_table(client):
    everything = client.get("/webhooks/events").json()
    window = client.get("/webhooks/events", params={"offset": 1, "limit": 2})
    assert window.json()["items"] == everything["items"][1:3]
    assert window.json()["page"]["total"] == everything["page"]["total"] == len(everything["items"])
    assert window.headers["x-total-count"] == str(len(everything["items"]))
