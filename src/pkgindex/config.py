"""Settings, read from the environment (prefix ``PKGINDEX_``) and an optional ``.env`` file."""

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
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
    log_level: str = Field(default="info", description="Log level (JSON lines on stderr).")
    db_connect_timeout: float = Field(
        default=5, gt=0, description="Seconds to wait for a database connection before answering 503."
    )
    workers: int = Field(default=1, ge=1, le=64, description="Worker processes of `pkgindex serve`.")
    forwarded_allow_ips: str = Field(
        default="",
        description="Proxies whose Forwarded / X-Forwarded-* headers are trusted: comma-separated addresses"
        " or CIDR networks, or * for any. Empty: trust none.",
    )
    root_path: str = Field(
        default="", description="Path prefix the service is mounted under behind a proxy, e.g. /pkgindex."
    )
    response_cache_mb: float = Field(
        default=32,
        ge=0,
        description="Megabytes of GET answers each process keeps and re-serves while the data is unchanged"
        " (checked with one small query per request, shared by concurrent ones). 0 turns the cache off.",
    )

    # --- the refresher (``pkgindex refresh``; inside ``pkgindex serve`` when refresh_enabled) --------
    github_token: SecretStr | None = Field(
        default=None,
        description="GitHub token. With one, core stats come in batches over GraphQL and 304s are free;"
        " without, REST only, paced for the anonymous limit of 60 requests an hour.",
    )
    github_api_url: str = Field(default="https://api.github.com", description="GitHub REST API base URL.")
    github_graphql_url: str = Field(
        default="https://api.github.com/graphql", description="GitHub GraphQL endpoint."
    )
    pypi_url: str = Field(
        default="https://pypi.org", description="PyPI base URL (JSON API at /pypi/NAME/json)."
    )
    refresh_enabled: bool = Field(
        default=False, description="Run the refresher as a background task inside `pkgindex serve`."
    )
    refresh_interval: float = Field(
        default=86400, gt=0, description="Seconds between two refreshes of one package (24 h)."
    )
    refresh_poll_interval: float = Field(
        default=30, gt=0, description="Seconds the refresh loop sleeps when nothing is due."
    )
    refresh_batch_size: int = Field(
        default=100,
        ge=1,
        le=100,
        description="Packages claimed at a time; also repositories per GraphQL query.",
    )
    refresh_lease_seconds: float = Field(
        default=300,
        gt=0,
        description="How long a claimed package stays reserved for one worker (renewed while it works).",
    )
    refresh_error_backoff: float = Field(
        default=900,
        gt=0,
        description="Seconds before retrying a failed package; doubles with each consecutive error.",
    )
    refresh_max_backoff: float = Field(
        default=7 * 86400, gt=0, description="Longest wait between retries of a failing package."
    )
    github_stats_max_age: float = Field(
        default=30 * 86400,
        gt=0,
        description="Seconds after which contributors are fetched again even without a push.",
    )
    github_concurrency: int = Field(
        default=4, ge=1, le=32, description="Requests in flight to GitHub at once."
    )
    pypi_concurrency: int = Field(
        default=16,
        ge=1,
        le=32,
        description="Requests in flight to PyPI (a CDN with no rate limit; most answers are 304s).",
    )
    upstream_timeout: float = Field(
        default=10, gt=0, description="Seconds before an upstream request times out."
    )
    upstream_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries of a transient upstream fault (timeout, reset, 5xx, bad body).",
    )
    upstream_backoff: float = Field(
        default=1.0, ge=0, description="First retry delay in seconds; grows exponentially, with jitter."
    )
    activity_retry_delay: float = Field(
        default=10,
        ge=0,
        description="Seconds before asking again for weekly commit activity GitHub answered 202.",
    )

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
