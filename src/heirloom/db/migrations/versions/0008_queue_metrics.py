"""Queue metrics: a snapshot of the GPU queue per tier and priority, taken every minute.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "queue_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("priority_key", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("oldest_wait_s", sa.Float(), nullable=True),
        sa.Column("on_gpu", sa.Integer(), nullable=False),
        sa.Column("queue_backlog", sa.Integer(), nullable=True),
        sa.Column("queue_backlog_age_s", sa.Float(), nullable=True),
        sa.Column("queue_add_rate", sa.Float(), nullable=True),
        sa.Column("queue_dispatch_rate", sa.Float(), nullable=True),
        sa.Column("runpod_in_queue", sa.Integer(), nullable=True),
        sa.Column("runpod_in_progress", sa.Integer(), nullable=True),
        sa.Column("runpod_workers_idle", sa.Integer(), nullable=True),
        sa.Column("runpod_workers_running", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "taken_at", "tier", "priority_key", name="uq_queue_metrics_taken_tier_priority"
        ),
    )
    op.create_index("ix_queue_metrics_taken_at", "queue_metrics", ["taken_at"])


def downgrade() -> None:
    op.drop_index("ix_queue_metrics_taken_at", table_name="queue_metrics")
    op.drop_table("queue_metrics")
