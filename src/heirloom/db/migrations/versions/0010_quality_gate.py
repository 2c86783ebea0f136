"""Quality gate: what the gate found in a job's kept output, and which model try each RunPod
job belongs to (the gate's second try counts apart in analytics).

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("quality", sa.JSON(), nullable=True))
    with op.batch_alter_table("model_attempts") as batch:
        batch.add_column(sa.Column("model_try", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("model_attempts") as batch:
        batch.drop_column("model_try")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("quality")
