"""Token management over HTTP: admin scope only; the token is shown once and works at once."""

from typing import Any

import httpx
from sqlalchemy import select
from test_writes_common import Factory, new_category, new_token

from pkgindex.db import unit_of_work
from pkgindex.models import ApiToken
from pkgindex.services.tokens import Scope

TOKENS = "/api/v4/tokens/"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_write_token_cannot_manage_tokens(
    client: httpx.AsyncClient, session_factory: Factory
) -> None:
    write = await new_token(session_factory, "writer", Scope.WRITE)
    for method, url, body in (
        ("GET", TOKENS, None),
        ("POST", TOKENS, {"name": "x", "scope": "write"}),
        ("DELETE", f"{TOKENS}writer/", None),
    ):
        response = await client.request(method, url, json=body, headers=bearer(write))
        assert response.status_code == 403, (method, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "admin" in response.json()["detail"]
        assert write not in response.text
    async with unit_of_work(session_factory) as session:
        assert [row.name for row in await session.scalars(select(ApiToken))] == ["writer"]


async def test_anonymous_gets_401(client: httpx.AsyncClient) -> None:
    response = await client.get(TOKENS)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_admin_creates_lists_and_revokes(client: httpx.AsyncClient, session_factory: Factory) -> None:
    admin = await new_token(session_factory, "root", Scope.ADMIN)
    created = await client.post(TOKENS, json={"name": "sync", "scope": "write"}, headers=bearer(admin))
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    body: dict[str, Any] = created.json()
    token = body["token"]
    assert (body["name"], body["scope"], body["revoked"]) == ("sync", "write", None)

    listing = await client.get(TOKENS, headers=bearer(admin))
    assert [item["name"] for item in listing.json()] == ["root", "sync"]
    assert token not in listing.text
    assert all("token" not in item and "token_hash" not in item for item in listing.json())

    write = await client.post("/api/v4/categories/", json=new_category(), headers=bearer(token))
    assert write.status_code == 201, write.text

    duplicate = await client.post(TOKENS, json={"name": "sync", "scope": "admin"}, headers=bearer(admin))
    assert duplicate.status_code == 409

    assert (await client.delete(f"{TOKENS}sync/", headers=bearer(admin))).status_code == 204
    refused = await client.patch("/api/v4/categories/testing/", json={"title": "T"}, headers=bearer(token))
    assert refused.status_code == 401
    revoked = (await client.get(TOKENS, headers=bearer(admin))).json()[1]
    assert revoked["revoked"] is not None
    assert (await client.delete(f"{TOKENS}nobody/", headers=bearer(admin))).status_code == 404
    assert (await client.delete(f"{TOKENS}a%00b/", headers=bearer(admin))).status_code == 404


async def test_bad_requests_name_the_field(client: httpx.AsyncClient, session_factory: Factory) -> None:
    admin = await new_token(session_factory, "root", Scope.ADMIN)
    for body, field in (
        ({"name": "x", "scope": "owner"}, "scope"),
        ({"scope": "write"}, "name"),
        ({"name": "no spaces allowed", "scope": "write"}, "name"),
    ):
        response = await client.post(TOKENS, json=body, headers=bearer(admin))
        assert response.status_code == 422, body
        assert field in response.text
