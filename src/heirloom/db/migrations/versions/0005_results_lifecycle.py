"""Results lifecycle: retention, photo metadata, stored bytes, share links and the audit log.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("photo_metadata", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("stored_bytes", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_index("ix_jobs_expires_at", "jobs", ["expires_at"])
    op.create_table(
        "shares",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("job_id", sa.String(length=32), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("user_id", sa.String(length=32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("allow_download", sa.Boolean(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_shares_job_id", "shares", ["job_id"])
    op.create_index("ix_shares_user_id", "shares", ["user_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("share_id", sa.String(length=32), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_audit_log_owner_at", "audit_log", ["owner_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_owner_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_shares_user_id", table_name="shares")
    op.drop_index("ix_shares_job_id", table_name="shares")
    op.drop_table("shares")
    op.drop_index("ix_jobs_expires_at", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("stored_bytes")
        batch.drop_column("photo_metadata")
        batch.drop_column("expires_at")
