"""Who is calling: API tokens in ``Authorization: Bearer <token>`` or ``Authorization: Token <token>``
(the form Django REST framework clients send), checked against the request's own session.

Routes declare what they need with ``WriterDep`` (scope ``write`` or ``admin``) or ``AdminDep``. A token
never goes into an error body, a log line or the OpenAPI document.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pkgindex.api.deps import SessionDep
from pkgindex.schemas.common import Problem
from pkgindex.services.tokens import Scope, find_active_token, grants

REALM = "pkgindex"
# Schemes accepted, lower-cased (RFC 9110: auth schemes are case-insensitive).
SCHEMES = frozenset({"bearer", "token"})

# Declares the HTTP bearer scheme in OpenAPI; the header is parsed below, since this class alone
# would turn away DRF's ``Token`` form.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    bearerFormat="pki_…",
    description="An API token from `pkgindex token create`, sent as `Authorization: Bearer <token>` "
    "(`Authorization: Token <token>` works too). Writes need scope `write`, token management `admin`.",
)


# For ``responses=`` of routes (or routers) that use WriterDep or AdminDep.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": Problem,
        "description": "No token, or a malformed, unknown or revoked one.",
        "headers": {
            "WWW-Authenticate": {
                "description": f'`Bearer realm="{REALM}"`, with `error="invalid_token"` when a token was '
                "sent but is no good.",
                "schema": {"type": "string"},
            }
        },
    },
    403: {"model": Problem, "description": "The token's scope does not allow this."},
}


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: the name and scope of its token (never the token)."""

    token_name: str
    scope: str


def unauthorized(detail: str, *, token_given: bool) -> HTTPException:
    challenge = f'Bearer realm="{REALM}"'
    if token_given:
        challenge += ', error="invalid_token"'
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


async def authenticate(
    request: Request,
    session: SessionDep,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Caller:
    """The caller behind the request's token; 401 when there is none or it is no good."""
    header = request.headers.get("authorization")
    if not header or not header.strip():
        raise unauthorized("Authentication credentials were not provided.", token_given=False)
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() not in SCHEMES:
        raise unauthorized(
            "Unsupported authorization scheme; send 'Authorization: Bearer <token>'.", token_given=False
        )
    token = credentials.strip()
    if not token:
        raise unauthorized(
            "Invalid authorization header: no token given after the scheme.", token_given=False
        )
    row = await find_active_token(session, token)
    if row is None:
        raise unauthorized("Invalid token: malformed, unknown or revoked.", token_given=True)
    return Caller(token_name=row.name, scope=row.scope)


def _require(needed: Scope, caller: Caller) -> Caller:
    if not grants(caller.scope, needed):
        raise HTTPException(
            403, f"This action needs a token with the '{needed}' scope; this token has '{caller.scope}'."
        )
    return caller


async def require_writer(caller: Annotated[Caller, Security(authenticate)]) -> Caller:
    return _require(Scope.WRITE, caller)


async def require_admin(caller: Annotated[Caller, Security(authenticate)]) -> Caller:
    return _require(Scope.ADMIN, caller)


WriterDep = Annotated[Caller, Security(require_writer)]
AdminDep = Annotated[Caller, Security(require_admin)]
