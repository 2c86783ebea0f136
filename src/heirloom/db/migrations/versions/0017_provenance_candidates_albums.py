"""What made a job's result, as fields: model id and revision, LoRA and its revision, steps,
CFG, seed and the GPU handler's version (jobs.model keeps the label); and a job's candidates
(model runs with different seeds), their files, and which one the owner chose; albums (many
photos, one job each, charged together).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision: str | None = "0016"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("provenance", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("candidates", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("candidate_results", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("chosen_candidate", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("album_id", sa.String(length=32), nullable=True))
        batch.create_index("ix_jobs_album_id", ["album_id"])
    op.create_table(
        "albums",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("user_id", sa.String(length=32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("operations", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("photos", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_event_id", sa.Integer(), nullable=False),
        sa.Column("zip_key", sa.String(length=300), nullable=True),
        sa.Column("zip_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("share_token_hash", sa.String(length=64), nullable=True, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_albums_user_created", "albums", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_albums_user_created", table_name="albums")
    op.drop_table("albums")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_album_id")
        batch.drop_column("album_id")
        batch.drop_column("chosen_candidate")
        batch.drop_column("candidate_results")
        batch.drop_column("candidates")
        batch.drop_column("provenance")
