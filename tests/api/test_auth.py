"""Token authentication through a tiny app of its own (the write routes live elsewhere): every way a
request can fail to authenticate is a 401 problem with a ``WWW-Authenticate`` challenge, a scope too
small is a 403, and the token never shows in a body, a header, a log line or the OpenAPI document."""

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pkgindex.api.auth import AUTH_RESPONSES, AdminDep, Caller, WriterDep
from pkgindex.api.deps import SessionDep
from pkgindex.api.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers
from pkgindex.db import unit_of_work
from pkgindex.models import ApiToken
from pkgindex.services import tokens
from pkgindex.services.tokens import Scope

CHALLENGE = 'Bearer realm="pkgindex"'
INVALID_TOKEN_CHALLENGE = 'Bearer realm="pkgindex", error="invalid_token"'

Factory = async_sessionmaker[AsyncSession]


def make_app(session_factory: Factory) -> FastAPI:
    app = FastAPI()
    app.state.session_factory = session_factory
    install_problem_handlers(app)

    @app.post("/write", responses=AUTH_RESPONSES)
    async def write_something(caller: WriterDep, session: SessionDep) -> dict[str, str | None]:
        # The dependency and the route share the request's session (and so its transaction).
        row = await session.scalar(select(ApiToken).where(ApiToken.name == caller.token_name))
        assert row is not None
        return {"token_name": caller.token_name, "scope": caller.scope, "last_used": str(row.last_used)}

    @app.post("/admin")
    async def administer_something(caller: AdminDep) -> dict[str, str]:
        return {"token_name": caller.token_name, "scope": caller.scope}

    return app


@pytest.fixture
async def auth_client(session_factory: Factory) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(session_factory))
    async with httpx.AsyncClient(transport=transport, base_url="http://pkgindex.test") as client:
        yield client


async def new_token(session_factory: Factory, name: str, scope: Scope) -> str:
    async with unit_of_work(session_factory) as session:
        return (await tokens.create_token(session, name, scope))[1]


@pytest.fixture
async def writer(session_factory: Factory) -> str:
    return await new_token(session_factory, "ci-writer", Scope.WRITE)


@pytest.fixture
async def admin(session_factory: Factory) -> str:
    return await new_token(session_factory, "ops-admin", Scope.ADMIN)


def assert_problem(response: httpx.Response, status: int, *secrets: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == status
    assert body["detail"]
    for secret in secrets:
        assert secret not in response.text
        assert all(secret not in value for value in response.headers.values())


@pytest.mark.parametrize("path", ["/write", "/admin"])
async def test_missing_credentials_are_a_401_with_a_bare_challenge(
    auth_client: httpx.AsyncClient, path: str
) -> None:
    response = await auth_client.post(path)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == CHALLENGE
    assert response.json()["detail"] == "Authentication credentials were not provided."


@pytest.mark.parametrize(
    "header", ["", "   ", "Bearer", "Bearer   ", "Token", "Basic x", "Basic dXNlcjpwYXNz", "garbage"]
)
async def test_a_header_without_a_usable_token_is_a_401_with_a_bare_challenge(
    auth_client: httpx.AsyncClient, writer: str, header: str
) -> None:
    response = await auth_client.post("/write", headers={"Authorization": header})
    assert_problem(response, 401, writer)
    assert response.headers["www-authenticate"] == CHALLENGE


@pytest.mark.parametrize(
    "credentials",
    [
        "garbage",
        "pki_short",
        "pki_" + "A" * 43 + "!",
        "two words",
        "pki_" + "A" * 43,  # well formed, unknown
    ],
)
@pytest.mark.parametrize("scheme", ["Bearer", "Token"])
async def test_a_malformed_or_unknown_token_is_a_401_invalid_token(
    auth_client: httpx.AsyncClient, writer: str, scheme: str, credentials: str
) -> None:
    response = await auth_client.post("/write", headers={"Authorization": f"{scheme} {credentials}"})
    assert_problem(response, 401, writer, credentials)
    assert response.headers["www-authenticate"] == INVALID_TOKEN_CHALLENGE


async def test_a_token_that_differs_by_one_character_is_refused(
    auth_client: httpx.AsyncClient, writer: str
) -> None:
    altered = writer[:-1] + ("A" if writer[-1] != "A" else "B")
    response = await auth_client.post("/write", headers={"Authorization": f"Bearer {altered}"})
    assert_problem(response, 401, writer, altered)
    assert response.headers["www-authenticate"] == INVALID_TOKEN_CHALLENGE


async def test_a_revoked_token_is_a_401_invalid_token(
    auth_client: httpx.AsyncClient, session_factory: Factory, writer: str
) -> None:
    before = await auth_client.post("/write", headers={"Authorization": f"Bearer {writer}"})
    assert before.status_code == 200
    async with unit_of_work(session_factory) as session:
        await tokens.revoke_token(session, "ci-writer")

    response = await auth_client.post("/write", headers={"Authorization": f"Bearer {writer}"})
    assert_problem(response, 401, writer)
    assert response.headers["www-authenticate"] == INVALID_TOKEN_CHALLENGE


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer", "TOKEN"])
async def test_both_header_forms_authenticate(
    auth_client: httpx.AsyncClient, writer: str, admin: str, scheme: str
) -> None:
    response = await auth_client.post("/write", headers={"Authorization": f"{scheme} {writer}"})
    assert response.status_code == 200, response.text
    assert response.json()["token_name"] == "ci-writer"
    assert response.json()["scope"] == "write"
    assert writer not in response.text

    response = await auth_client.post("/admin", headers={"Authorization": f"{scheme}  {admin} "})
    assert response.status_code == 200, response.text
    assert response.json() == {"token_name": "ops-admin", "scope": "admin"}


async def test_an_admin_token_may_write(auth_client: httpx.AsyncClient, admin: str) -> None:
    response = await auth_client.post("/write", headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "admin"


async def test_a_write_token_on_an_admin_route_is_a_403(auth_client: httpx.AsyncClient, writer: str) -> None:
    response = await auth_client.post("/admin", headers={"Authorization": f"Bearer {writer}"})
    assert_problem(response, 403, writer)
    assert "www-authenticate" not in response.headers
    assert "'admin'" in response.json()["detail"]


async def test_use_is_recorded_at_most_once_a_minute(
    auth_client: httpx.AsyncClient, session_factory: Factory, writer: str
) -> None:
    async def last_used() -> datetime | None:
        async with unit_of_work(session_factory) as session:
            return await session.scalar(select(ApiToken.last_used).where(ApiToken.name == "ci-writer"))

    assert await last_used() is None
    before = datetime.now(UTC)
    response = await auth_client.post("/write", headers={"Authorization": f"Bearer {writer}"})
    first = await last_used()
    assert first is not None
    assert before <= first <= datetime.now(UTC)
    # The route sees the value recorded within its own transaction.
    assert response.json()["last_used"] == str(first)

    await auth_client.post("/write", headers={"Authorization": f"Bearer {writer}"})
    assert await last_used() == first

    async with unit_of_work(session_factory) as session:
        row = await session.scalar(select(ApiToken).where(ApiToken.name == "ci-writer"))
        assert row is not None
        row.last_used = first - timedelta(minutes=5)
    await auth_client.post("/write", headers={"Authorization": f"Bearer {writer}"})
    later = await last_used()
    assert later is not None
    assert later > first - timedelta(minutes=5)


async def test_openapi_declares_the_bearer_scheme_on_protected_routes(
    auth_client: httpx.AsyncClient, writer: str
) -> None:
    response = await auth_client.get("/openapi.json", headers={"Authorization": f"Bearer {writer}"})
    document = response.json()
    scheme = document["components"]["securitySchemes"]["token"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    assert document["paths"]["/write"]["post"]["security"] == [{"token": []}]
    assert document["paths"]["/admin"]["post"]["security"] == [{"token": []}]
    # The header is read by hand, not declared as a parameter a client would fill in.
    assert "parameters" not in document["paths"]["/write"]["post"]
    responses = document["paths"]["/write"]["post"]["responses"]
    assert "WWW-Authenticate" in responses["401"]["headers"]
    assert "403" in responses
    assert writer not in response.text


async def test_tokens_never_reach_the_logs(
    auth_client: httpx.AsyncClient, writer: str, admin: str, caplog: pytest.LogCaptureFixture
) -> None:
    unknown = "pki_" + "Z" * 43
    with caplog.at_level(logging.DEBUG):
        for token in (writer, admin, unknown, "garbage"):
            for path in ("/write", "/admin"):
                for scheme in ("Bearer", "Token"):
                    await auth_client.post(path, headers={"Authorization": f"{scheme} {token}"})
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    for token in (writer, admin, unknown):
        assert token not in logged


def test_caller_is_a_frozen_value() -> None:
    caller = Caller(token_name="ci", scope="write")
    assert caller == Caller("ci", "write")
    with pytest.raises(AttributeError):
        caller.scope = "admin"  # type: ignore[misc]
