"""Erasure log: which accounts were erased and when, kept so that a restore from an older backup
erases them again.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "erasure_log",
        sa.Column("user_id", sa.String(length=32), primary_key=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_erasure_log_erased_at", "erasure_log", ["erased_at"])


def downgrade() -> None:
    op.drop_index("ix_erasure_log_erased_at", table_name="erasure_log")
    op.drop_table("erasure_log")
