"""Every ending settles: the reconciler's index and the operator-side record of an ending.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("error_detail", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("ended_by", sa.String(length=16), nullable=True))
    op.create_index("ix_jobs_status_updated", "jobs", ["status", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_updated", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("ended_by")
        batch.drop_column("error_detail")
