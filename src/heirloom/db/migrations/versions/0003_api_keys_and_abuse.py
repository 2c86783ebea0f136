"""Several named API keys per user (existing keys kept), and the abuse-signal audit table.

Revision ID: 0003
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

# Keys made before this revision: their plaintext is gone, so their prefix cannot be shown.
LEGACY_PREFIX = "hl_…"


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"], unique=False)
    # Each user's one key becomes their key named "default"; the user id (32 hex
    # characters, unique) doubles as the key id so the copy is one statement on both databases.
    op.execute(
        sa.text(
            "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at) "
            "SELECT id, id, 'default', :prefix, api_key_hash, created_at FROM users"
        ).bindparams(prefix=LEGACY_PREFIX)
    )
    with op.batch_alter_table("users") as batch:
        batch.drop_column("api_key_hash")

    op.create_table(
        "abuse_signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("observed", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.String(length=64), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_abuse_signals_kind", "abuse_signals", ["kind"], unique=False)
    op.create_index("ix_abuse_signals_key_id", "abuse_signals", ["key_id"], unique=False)
    op.create_index("ix_abuse_signals_created_at", "abuse_signals", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("abuse_signals")
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("api_key_hash", sa.String(length=64), nullable=True))
    # Back to one key per user: the oldest key still valid; a user without one gets a
    # placeholder no key hashes to.
    op.execute(
        sa.text(
            "UPDATE users SET api_key_hash = COALESCE((SELECT k.key_hash FROM api_keys k "
            "WHERE k.user_id = users.id AND k.revoked_at IS NULL "
            "ORDER BY k.created_at, k.id LIMIT 1), 'revoked:' || users.id)"
        )
    )
    op.drop_table("api_keys")
    with op.batch_alter_table("users") as batch:
        batch.alter_column("api_key_hash", nullable=False)
        batch.create_unique_constraint("uq_users_api_key_hash", ["api_key_hash"])
