from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TokenRead(BaseModel):
    """An API token as listed: never the token itself, nor its hash."""

    name: str
    scope: Literal["write", "admin"]
    created: datetime
    last_used: datetime | None
    revoked: datetime | None


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="A unique name, e.g. the calling service's.")
    scope: Literal["write", "admin"] = Field(
        description="`write` edits the index; `admin` also manages tokens."
    )


class TokenCreated(TokenRead):
    token: str = Field(description="The token. Shown in this answer only: it is not stored, only its hash.")
