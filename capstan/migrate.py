"""Database migrations (alembic), run by ``capstan migrate`` and ``capstan dev``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    # "heads": every branch of the revision graph, so revisions written side by side apply before they
    # are chained (a released tree keeps them in one chain).
    command.upgrade(alembic_config(database_url), "heads")


def autogenerate(database_url: str, message: str) -> None:
    """Write a new revision from the difference between the tables and the database."""
    command.revision(alembic_config(database_url), message=message, autogenerate=True)
