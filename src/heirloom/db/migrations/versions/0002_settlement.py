"""Every ending settles (the reconciler's index, the operator-side record of an ending) and the
GPU queue (each job's model-step priority, and the index its queue position is counted with).

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
        batch.add_column(
            sa.Column("gpu_priority", sa.Integer(), nullable=False, server_default="3")
        )
    op.create_index("ix_jobs_status_updated", "jobs", ["status", "updated_at"])
    op.create_index("ix_jobs_stage_priority", "jobs", ["stage", "gpu_priority", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_stage_priority", table_name="jobs")
    op.drop_index("ix_jobs_status_updated", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("gpu_priority")
        batch.drop_column("ended_by")
        batch.drop_column("error_detail")
