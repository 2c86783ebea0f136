"""What made a job's result, as fields: model id and revision, LoRA and its revision, steps,
CFG, seed and the GPU handler's version (jobs.model keeps the label); and a job's candidates
(model runs with different seeds), their files, and which one the owner chose.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("provenance", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("candidates", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("candidate_results", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("chosen_candidate", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("chosen_candidate")
        batch.drop_column("candidate_results")
        batch.drop_column("candidates")
        batch.drop_column("provenance")
