"""Schema migrations with Alembic, driven from code (no alembic.ini needed)."""
from __future__ import annotations

import logging
from pathlib import Path

# Alembic narrates every step (even plugin set-up on import) at INFO; an up-to-date
# database is not news. Set before alembic is imported.
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (creates it if needed)."""
    from bot.db.engine import make_sqlite_dir

    make_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)


def current(url: str) -> None:
    command.current(alembic_config(url), verbose=False)
