"""Key provenance: which API key created each key, share link and webhook change; stream
tokens bound to the key that made them and to one stream; which admin (and key) granted
credits or changed a tier.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("created_by_key_id", sa.String(length=32), nullable=True))
        batch.create_index("ix_api_keys_created_by_key_id", ["created_by_key_id"])
    with op.batch_alter_table("shares") as batch:
        batch.add_column(sa.Column("created_by_key_id", sa.String(length=32), nullable=True))
        batch.create_index("ix_shares_created_by_key_id", ["created_by_key_id"])
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.add_column(sa.Column("updated_by_key_id", sa.String(length=32), nullable=True))
    # Stream tokens live minutes and name no key yet: the ones in flight are dropped.
    op.execute("DELETE FROM stream_tokens")
    with op.batch_alter_table("stream_tokens") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=32), nullable=False))
        batch.add_column(sa.Column("job_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("credit_ledger") as batch:
        batch.add_column(sa.Column("granted_by_user_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("granted_by_key_id", sa.String(length=32), nullable=True))
    op.create_table(
        "tier_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.String(length=32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("from_tier", sa.String(length=16), nullable=False),
        sa.Column("to_tier", sa.String(length=16), nullable=False),
        sa.Column("changed_by_user_id", sa.String(length=32), nullable=True),
        sa.Column("changed_by_key_id", sa.String(length=32), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_tier_changes_user_id", "tier_changes", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_tier_changes_user_id", table_name="tier_changes")
    op.drop_table("tier_changes")
    with op.batch_alter_table("credit_ledger") as batch:
        batch.drop_column("granted_by_key_id")
        batch.drop_column("granted_by_user_id")
    with op.batch_alter_table("stream_tokens") as batch:
        batch.drop_column("job_id")
        batch.drop_column("key_id")
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_column("updated_by_key_id")
    with op.batch_alter_table("shares") as batch:
        batch.drop_index("ix_shares_created_by_key_id")
        batch.drop_column("created_by_key_id")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_created_by_key_id")
        batch.drop_column("created_by_key_id")
