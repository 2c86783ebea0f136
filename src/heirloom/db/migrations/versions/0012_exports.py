"""Exports as a resource: one row per requested export, at most one building per user.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "data_exports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_data_exports_user_created", "data_exports", ["user_id", "created_at"])
    op.create_index(
        "uq_data_exports_one_building",
        "data_exports",
        ["user_id"],
        unique=True,
        sqlite_where=sa.text("state = 'building'"),
        postgresql_where=sa.text("state = 'building'"),
    )


def downgrade() -> None:
    op.drop_index("uq_data_exports_one_building", table_name="data_exports")
    op.drop_index("ix_data_exports_user_created", table_name="data_exports")
    op.drop_table("data_exports")
