"""Change feed in the job's own write: jobs.last_event and the triggers that append its event;
an index for each reservation's count of the user's jobs in progress.

A write of a job that sets `last_event` (the kind of the change) appends one job_events row
with the job's state after it, in the same statement: before, every job change was an UPDATE
and then an INSERT. On PostgreSQL the trigger also takes the append lock before the event's
id is drawn and wakes the API processes (NOTIFY at commit), as the INSERT did.

The state is what `heirloom.services.events.event_log.job_state` shows, written here in SQL
(compact JSON, keys in its order); tests/integration/test_change_feed.py holds the two
together. A later change of job_state needs a migration that replaces these.

SQLite drops a table's triggers when Alembic's batch mode rebuilds it: a later migration that
rebuilds `jobs` creates them again (the change-feed tests fail otherwise).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision: str | None = "0018"
branch_labels: str | None = None
depends_on: str | None = None

# event_log's _APPEND_LOCK and NOTIFY_CHANNEL.
APPEND_LOCK = 5207649161940258637
NOTIFY_CHANNEL = "heirloom_job_events"

_SQLITE_STATE = """json_object(
    'id', NEW.id,
    'status', NEW.status,
    'stage', NEW.stage,
    'progress', NEW.progress,
    'error', CASE WHEN coalesce(NEW.error_code, '') <> ''
        THEN json_object('code', NEW.error_code, 'message', coalesce(NEW.error_message, ''))
        END,
    'credits_refunded', NEW.refunded,
    'result_url', CASE WHEN NEW.status = 'completed' AND NEW.result_key IS NOT NULL
        THEN '/v1/jobs/' || NEW.id || '/result' END,
    'thumbnail_url', CASE WHEN NEW.status = 'completed' AND NEW.result_key IS NOT NULL
        THEN '/v1/jobs/' || NEW.id || '/thumbnail' END,
    'comparison_url', CASE WHEN NEW.status = 'completed' AND NEW.result_key IS NOT NULL
        THEN '/v1/jobs/' || NEW.id || '/comparison' END,
    'finished_at', CASE WHEN NEW.finished_at IS NOT NULL THEN replace(
        CASE WHEN substr(NEW.finished_at, 20) = '.000000'
            THEN substr(NEW.finished_at, 1, 19) ELSE NEW.finished_at END,
        ' ', 'T') || '+00:00' END,
    'quality', json(NEW.quality)
)"""

_SQLITE_INSERT = f"""INSERT INTO job_events (job_id, user_id, type, state, created_at)
    VALUES (NEW.id, NEW.user_id, NEW.last_event, {_SQLITE_STATE}, NEW.updated_at);"""

_POSTGRES_STATE = """'{"id":' || to_json(NEW.id)::text
    || ',"status":' || to_json(NEW.status)::text
    || ',"stage":' || to_json(NEW.stage)::text
    || ',"progress":' || NEW.progress::text
    || ',"error":' || CASE WHEN coalesce(NEW.error_code, '') <> ''
        THEN '{"code":' || to_json(NEW.error_code)::text
            || ',"message":' || to_json(coalesce(NEW.error_message, ''))::text || '}'
        ELSE 'null' END
    || ',"credits_refunded":' || NEW.refunded::text
    || ',"result_url":' || CASE WHEN done THEN to_json(base || '/result')::text ELSE 'null' END
    || ',"thumbnail_url":'
        || CASE WHEN done THEN to_json(base || '/thumbnail')::text ELSE 'null' END
    || ',"comparison_url":'
        || CASE WHEN done THEN to_json(base || '/comparison')::text ELSE 'null' END
    || ',"finished_at":' || CASE WHEN NEW.finished_at IS NULL THEN 'null' ELSE '"'
        || to_char(NEW.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN extract(microseconds FROM NEW.finished_at)::bigint % 1000000 = 0 THEN ''
            ELSE to_char(NEW.finished_at AT TIME ZONE 'UTC', '.US') END
        || '+00:00"' END
    || ',"quality":' || coalesce(NEW.quality::text, 'null')
    || '}'"""

_POSTGRES_FUNCTION = f"""
CREATE FUNCTION heirloom_append_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    done boolean := NEW.status = 'completed' AND NEW.result_key IS NOT NULL;
    base text := '/v1/jobs/' || NEW.id;
BEGIN
    -- Event ids commit in order: the lock before the id is drawn, held to the commit.
    PERFORM pg_advisory_xact_lock({APPEND_LOCK});
    INSERT INTO job_events (job_id, user_id, type, state, created_at)
        VALUES (NEW.id, NEW.user_id, NEW.last_event, {_POSTGRES_STATE}, NEW.updated_at);
    PERFORM pg_notify('{NOTIFY_CHANNEL}', '');
    RETURN NULL;
END
$$"""


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("last_event", sa.String(length=32), nullable=True))
    op.create_index("ix_jobs_user_status", "jobs", ["user_id", "status"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(
            "CREATE TRIGGER jobs_append_event_on_insert AFTER INSERT ON jobs FOR EACH ROW "
            "WHEN (NEW.last_event IS NOT NULL) EXECUTE FUNCTION heirloom_append_job_event()"
        )
        op.execute(
            "CREATE TRIGGER jobs_append_event_on_update AFTER UPDATE OF last_event ON jobs "
            "FOR EACH ROW WHEN (NEW.last_event IS NOT NULL) "
            "EXECUTE FUNCTION heirloom_append_job_event()"
        )
        return
    op.execute(
        "CREATE TRIGGER jobs_append_event_on_insert AFTER INSERT ON jobs FOR EACH ROW "
        f"WHEN NEW.last_event IS NOT NULL BEGIN {_SQLITE_INSERT} END"
    )
    op.execute(
        "CREATE TRIGGER jobs_append_event_on_update AFTER UPDATE OF last_event ON jobs "
        f"FOR EACH ROW WHEN NEW.last_event IS NOT NULL BEGIN {_SQLITE_INSERT} END"
    )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for trigger in ("jobs_append_event_on_update", "jobs_append_event_on_insert"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + (" ON jobs" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS heirloom_append_job_event()")
    op.drop_index("ix_jobs_user_status", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("last_event")
