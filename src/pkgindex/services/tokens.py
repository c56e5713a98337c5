"""API tokens: creation, look-up, revocation.

A token is ``pki_`` followed by 43 characters of ``secrets.token_urlsafe(32)`` (256 random bits); the
prefix lets people and secret scanners recognise one. Only its SHA-256 is stored. A slow password hash
(bcrypt, argon2) exists to make guessing low-entropy passwords expensive; guessing a 256-bit random
secret is hopeless either way, so a fast hash loses nothing and keeps each request cheap.
"""

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from pkgindex.errors import Conflict, NotFound, PkgIndexError
from pkgindex.models import ApiToken

TOKEN_PREFIX = "pki_"
_TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(rf"{TOKEN_PREFIX}[A-Za-z0-9_-]{{43}}")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:-]{0,99}")
# ``last_used`` is written at most once per this interval per token, so most requests only read.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Scope(StrEnum):
    WRITE = "write"
    ADMIN = "admin"


# What each scope may do: an admin token may also write.
GRANTS: dict[str, frozenset[Scope]] = {
    Scope.WRITE: frozenset({Scope.WRITE}),
    Scope.ADMIN: frozenset({Scope.WRITE, Scope.ADMIN}),
}


class InvalidTokenName(PkgIndexError):
    status = 422


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_well_formed(token: str) -> bool:
    return TOKEN_PATTERN.fullmatch(token) is not None


def grants(scope: str, needed: Scope) -> bool:
    """Whether a token of ``scope`` may act where ``needed`` is required."""
    return needed in GRANTS.get(scope, frozenset())


async def create_token(session: AsyncSession, name: str, scope: Scope) -> tuple[ApiToken, str]:
    """Store a new token named ``name``; returns the row and the token, which is not kept anywhere."""
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidTokenName(
            f"invalid token name {name!r}: use 1-100 letters, digits and . _ @ : -, starting with a "
            "letter or digit"
        )
    token = generate_token()
    row = ApiToken(
        name=name, scope=Scope(scope).value, token_hash=hash_token(token), created=datetime.now(UTC)
    )
    session.add(row)
    try:
        await session.flush()  # surface the unique-name violation here, not at commit
    except IntegrityError as exc:
        raise Conflict(f"a token named {name!r} already exists") from exc
    return row, token


async def list_tokens(session: AsyncSession) -> Sequence[ApiToken]:
    return (await session.scalars(select(ApiToken).order_by(ApiToken.name))).all()


async def revoke_token(session: AsyncSession, name: str) -> tuple[ApiToken, bool]:
    """Revoke the token named ``name``; returns it and whether it was revoked just now (False if it
    already was)."""
    # A name no token can have (NUL and the like) is not sent to the database at all.
    row = None
    if NAME_PATTERN.fullmatch(name):
        row = await session.scalar(select(ApiToken).where(ApiToken.name == name))
    if row is None:
        raise NotFound(f"no token named {name!r}")
    if row.revoked is not None:
        return row, False
    row.revoked = datetime.now(UTC)
    await session.flush()
    return row, True


async def find_active_token(session: AsyncSession, token: str) -> ApiToken | None:
    """The live token ``token`` is, or None when it is malformed, unknown or revoked. Also records
    the use (at most once per ``LAST_USED_RESOLUTION``)."""
    if not is_well_formed(token):
        return None
    digest = hash_token(token)
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    # The index look-up compares hashes of a secret the caller cannot steer, so its timing leaks
    # nothing useful; the constant-time check is the one that decides.
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked is not None:
        return None
    now = datetime.now(UTC)
    if row.last_used is None or now - row.last_used >= LAST_USED_RESOLUTION:
        await session.execute(
            update(ApiToken)
            .where(ApiToken.id == row.id)
            .where(or_(ApiToken.last_used.is_(None), ApiToken.last_used < now - LAST_USED_RESOLUTION))
            .values(last_used=now)
            .execution_options(synchronize_session=False)
        )
        set_committed_value(row, "last_used", now)  # already written; no second UPDATE at flush
    return row
