"""Settings, read from the environment (prefix ``PKGINDEX_``) and an optional ``.env`` file."""

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PKGINDEX_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./pkgindex.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB.",
    )
    timezone: str = Field(
        default="UTC",
        description="IANA zone in which timestamps are rendered (America/New_York reproduces the original).",
    )
    host: str = Field(default="127.0.0.1", description="Address `pkgindex serve` listens on.")
    port: int = Field(default=8000, description="Port `pkgindex serve` listens on.")
    db_pool_size: int = Field(default=10, ge=1, description="Connections kept per process (PostgreSQL).")
    log_level: str = Field(default="info", description="uvicorn log level.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@lru_cache
def get_settings() -> Settings:
    return Settings()
