"""GPU pool: the endpoint of a job's RunPod job and of each model attempt.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision: str | None = "0017"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("runpod_endpoint", sa.String(length=100), nullable=True))
    with op.batch_alter_table("model_attempts") as batch:
        batch.add_column(sa.Column("endpoint", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_attempts") as batch:
        batch.drop_column("endpoint")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("runpod_endpoint")
