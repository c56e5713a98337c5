from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from pkgindex.models.base import Base, UTCDateTime


class ApiToken(Base):
    """An API token. Only the SHA-256 of the token is kept; the token itself is shown once, at creation."""

    __tablename__ = "api_token"
    __table_args__ = (CheckConstraint("scope IN ('write', 'admin')", name="scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    scope: Mapped[str] = mapped_column(String(10))
    # Hex SHA-256 of the whole token string.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[datetime | None] = mapped_column(UTCDateTime)
