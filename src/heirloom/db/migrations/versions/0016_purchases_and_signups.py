"""Self-serve accounts and purchases: sign-ups, Stripe purchases, money movements, handled
Stripe events, users' debt and the ledger's purchase and clawback rows.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None

_KINDS_BEFORE = "kind IN ('reserve', 'refund', 'grant')"
_KINDS_AFTER = "kind IN ('reserve', 'refund', 'grant', 'purchase', 'clawback')"


def _ts(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("debt", sa.Integer(), nullable=False, server_default="0"))
        batch.create_check_constraint("ck_users_debt_non_negative", "debt >= 0")
    with op.batch_alter_table("credit_ledger") as batch:
        batch.drop_constraint("ck_credit_ledger_kind", type_="check")
        batch.create_check_constraint("ck_credit_ledger_kind", _KINDS_AFTER)
    op.create_table(
        "purchases",
        sa.Column("id", sa.String(length=255), primary_key=True),
        sa.Column("user_id", sa.String(length=32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("pack_id", sa.String(length=32), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("price_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=True),
        sa.Column("previous_tier", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payment_intent", sa.String(length=255), nullable=True, unique=True),
        sa.Column("paid_minor", sa.Integer(), nullable=False),
        sa.Column("reversed_minor", sa.Integer(), nullable=False),
        sa.Column("credits_taken_back", sa.Integer(), nullable=False),
        sa.Column("tier_revoked", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("paid_at", nullable=True),
        _ts("updated_at"),
    )
    op.create_index("ix_purchases_user_created", "purchases", ["user_id", "created_at"])
    op.create_table(
        "payment_reversals",
        sa.Column("payment_intent", sa.String(length=255), primary_key=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("refunded_minor", sa.Integer(), nullable=False),
        sa.Column("disputed_minor", sa.Integer(), nullable=False),
        _ts("updated_at"),
    )
    op.create_table(
        "money_movements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(length=300), nullable=False, unique=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payment_intent", sa.String(length=255), nullable=True),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        _ts("at"),
    )
    op.create_index("ix_money_movements_payment_intent", "money_movements", ["payment_intent"])
    op.create_index("ix_money_movements_at", "money_movements", ["at"])
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), primary_key=True),
        sa.Column("type", sa.String(length=100), nullable=False),
        _ts("received_at"),
    )
    op.create_table(
        "signups",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("used_at", nullable=True),
        sa.Column("user_id", sa.String(length=32), nullable=True),
    )
    op.create_index("ix_signups_email", "signups", ["email"])


def downgrade() -> None:
    op.drop_index("ix_signups_email", table_name="signups")
    op.drop_table("signups")
    op.drop_table("stripe_events")
    op.drop_index("ix_money_movements_at", table_name="money_movements")
    op.drop_index("ix_money_movements_payment_intent", table_name="money_movements")
    op.drop_table("money_movements")
    op.drop_table("payment_reversals")
    op.drop_index("ix_purchases_user_created", table_name="purchases")
    op.drop_table("purchases")
    with op.batch_alter_table("credit_ledger") as batch:
        batch.drop_constraint("ck_credit_ledger_kind", type_="check")
        batch.create_check_constraint("ck_credit_ledger_kind", _KINDS_BEFORE)
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("ck_users_debt_non_negative", type_="check")
        batch.drop_column("debt")
