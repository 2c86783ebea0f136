"""Exactly-once model runs: the job's claim generation and the model_attempts table.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("model_generation", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "model_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("runpod_job_id", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("execution_ms", sa.Integer(), nullable=True),
        sa.Column("delay_ms", sa.Integer(), nullable=True),
        sa.Column("duplicate", sa.Boolean(), nullable=False),
        sa.Column("duplicate_of", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "runpod_job_id", name="uq_model_attempts_job_runpod"),
    )
    op.create_index("ix_model_attempts_job_id", "model_attempts", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_model_attempts_job_id", table_name="model_attempts")
    op.drop_table("model_attempts")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("model_generation")
