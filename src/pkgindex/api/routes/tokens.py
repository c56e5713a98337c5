"""Token management over HTTP (admin scope); `pkgindex token ...` does the same from a shell."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from pkgindex.api.auth import AdminDep
from pkgindex.api.deps import BodyLimitRoute, SessionDep, require_json
from pkgindex.api.problems import problem_responses
from pkgindex.schemas.tokens import TokenCreate, TokenCreated, TokenRead
from pkgindex.services import tokens

router = APIRouter(prefix="/tokens", tags=["tokens"], route_class=BodyLimitRoute)


@router.get(
    "/",
    response_model=list[TokenRead],
    summary="List API tokens",
    responses=problem_responses(400, 401, 403),
)
async def list_tokens(caller: AdminDep, session: SessionDep, response: Response) -> list[TokenRead]:
    response.headers["Cache-Control"] = "no-store"
    return [TokenRead.model_validate(row, from_attributes=True) for row in await tokens.list_tokens(session)]


@router.post(
    "/",
    status_code=201,
    response_model=TokenCreated,
    summary="Create an API token",
    description="The answer holds the token; it is shown this once and never stored, only its hash.",
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
)
async def create_token(
    body: TokenCreate,
    caller: AdminDep,
    _json: Annotated[None, Depends(require_json)],
    session: SessionDep,
    response: Response,
) -> TokenCreated:
    row, token = await tokens.create_token(session, body.name, tokens.Scope(body.scope))
    response.headers["Cache-Control"] = "no-store"
    read = TokenRead.model_validate(row, from_attributes=True)
    return TokenCreated(**read.model_dump(), token=token)


@router.delete(
    "/{name}/",
    status_code=204,
    summary="Revoke an API token",
    description="Revoking is final and idempotent: the token stops working at once.",
    responses=problem_responses(400, 401, 403, 404),
)
async def revoke_token(name: str, caller: AdminDep, session: SessionDep) -> Response:
    await tokens.revoke_token(session, name)
    return Response(status_code=204)
