"""Alembic environment: runs on the connection notifier.store.Store hands over, or on
``NOTIFIER_DATABASE_URL`` when called from the ``alembic`` command line."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from notifier.store.schema import metadata

target_metadata = metadata


def run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = create_engine(os.environ.get("NOTIFIER_DATABASE_URL", "sqlite:///var/notifier.db"))
    with engine.begin() as conn:
        run_migrations(conn)
