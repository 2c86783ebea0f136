"""Withdrawn submissions: the ids of submissions the API answered 503 to, which a late
reservation refuses to charge.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "withdrawn_submissions",
        sa.Column("submission_id", sa.String(length=32), primary_key=True),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_withdrawn_submissions_job_id", "withdrawn_submissions", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_withdrawn_submissions_job_id", table_name="withdrawn_submissions")
    op.drop_table("withdrawn_submissions")
