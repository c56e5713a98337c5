"""Running the Alembic migrations from code: `pkgindex migrate`, readiness checks and tests."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection


def script_location() -> Path:
    """The migrations folder: packaged inside the wheel, or at the root of a source checkout."""
    packaged = Path(__file__).parent / "migrations"
    if (packaged / "env.py").exists():
        return packaged
    return Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database_url: str | None = None, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    if database_url:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(database_url: str) -> None:
    """Bring the database at ``database_url`` to the newest revision."""
    command.upgrade(alembic_config(database_url), "head")


def upgrade_connection(connection: Connection) -> None:
    """Migrate through a sync connection someone else opened (for ``AsyncConnection.run_sync``)."""
    command.upgrade(alembic_config(connection=connection), "head")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
