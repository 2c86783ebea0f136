"""Alembic environment: runs against the URL handed over by heirloom.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from heirloom.db import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from heirloom.db.engine import make_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "heirloom.db.migrate sets sqlalchemy.url"
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url, pool_size=1)
    with engine.connect() as connection:
        if url.startswith("sqlite"):
            # SQLite alters a table by copying it and dropping the original, which a
            # referencing row would refuse; the copy keeps every row, so references stay valid.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=url.startswith("sqlite"),
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
