"""Schema versions: apply the Alembic migrations, and refuse a database newer than the code."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

import migrations


class SchemaTooNew(RuntimeError):
    """The database carries a migration this version of citycse does not know."""


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def ensure_sqlite_folder(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def current_revision(url: str) -> str | None:
    """The revision recorded in the database (None for an empty database)."""

    async def read() -> str | None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _is_known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def upgrade(url: str) -> str:
    """Bring the database up to the newest schema; refuse one that is newer than the code.
    Returns the head revision."""
    ensure_sqlite_folder(url)
    revision = current_revision(url)
    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head()
    if revision is not None and not _is_known(script, revision):
        raise SchemaTooNew(
            f"the database schema is at revision {revision!r}, which this citycse does not "
            f"know (its newest is {head!r}): the database was written by a newer citycse; "
            "upgrade citycse instead of running this one on it"
        )
    if revision != head:
        command.upgrade(alembic_config(url), "head")
    return head
