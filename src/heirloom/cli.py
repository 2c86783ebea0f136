"""The `heirloom` command: dev, api, worker, runpod-endpoint, stripe-standin, mail-catcher,
migrate, users, status, submit, watch, config-docs, error-docs, openapi, backup, erasures."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from httpx_sse import SSEError, connect_sse
from tqdm import tqdm

from heirloom.config import Settings, environment_errors
from heirloom.domain.tiers import Tier
from heirloom.services.ops.logs import configure_logging

if TYPE_CHECKING:
    from heirloom.db.models import User
    from heirloom.services.accounts.users import Accounts
    from heirloom.services.money.credits import CreditManager
    from heirloom.services.ops.health import Readiness


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # Before anything starts: a mistyped HEIRLOOM_* variable would otherwise be ignored.
    if errors := environment_errors():
        for error in errors:
            print(f"error: {error}", file=sys.stderr)
        return 2
    # `submit` draws a progress bar; request logs would tear it.
    quiet = args.run in (
        _submit,
        _watch,
        _dev,
        _users_create,
        _users_list,
        _users_grant,
        _status,
        _report_costs,
        _config_docs,
        _backup_seal,
        _backup_unseal,
        _erasures_reapply,
        _erasures_export,
    )
    # Forced: the runpod SDK configures the root logger when imported.
    configure_logging(Settings().log_format, logging.WARNING if quiet else logging.INFO)
    try:
        code: int = args.run(args)
    except _CommandFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heirloom", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    dev = commands.add_parser("dev", help="run the whole stack locally (Ctrl-C stops it)")
    dev.set_defaults(run=_dev)

    api = commands.add_parser("api", help="serve the REST API with uvicorn")
    api.set_defaults(run=_api)

    worker = commands.add_parser("worker", help="run Temporal workers for tier task queues")
    worker.add_argument(
        "--tiers", help="comma-separated tiers (default: all; none: only the GPU and ops queues)"
    )
    worker.add_argument(
        "--gpu-slots",
        type=int,
        help="model steps this process runs at once; all processes together = the GPU pool",
    )
    worker.set_defaults(run=_worker)

    endpoint = commands.add_parser(
        "runpod-endpoint", help="serve the local RunPod-compatible endpoint (CPU engine)"
    )
    endpoint.set_defaults(run=_endpoint)

    standin = commands.add_parser(
        "stripe-standin", help="serve the local Stripe stand-in (checkout, refunds, webhooks)"
    )
    standin.set_defaults(run=_stripe_standin)

    catcher = commands.add_parser(
        "mail-catcher", help="catch the dev stack's emails into HEIRLOOM_HOME/mail"
    )
    catcher.set_defaults(run=_mail_catcher)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(run=_migrate)

    users = commands.add_parser("users", help="create, list and credit users in the database")
    user_commands = users.add_subparsers(required=True, metavar="ACTION")
    create = user_commands.add_parser("create", help="create a user and print its API key once")
    create.add_argument("--email", required=True)
    create.add_argument("--tier", required=True, choices=[t.value for t in Tier])
    create.add_argument("--credits", type=int, default=0, help="starting credits (a ledger grant)")
    create.add_argument("--admin", action="store_true", help="may use the /v1/admin routes")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(run=_users_create)
    listing = user_commands.add_parser("list", help="every user with tier, role and balance")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=_users_list)
    grant = user_commands.add_parser("grant", help="grant credits (a ledger row with a reason)")
    grant.add_argument("user_id")
    grant.add_argument("amount", type=int)
    grant.add_argument("--reason", required=True)
    grant.add_argument(
        "--idempotency-key", help="repeating a grant with the same key grants it once"
    )
    grant.set_defaults(run=_users_grant)

    status = commands.add_parser(
        "status", help="the readiness checks with their details, for an operator"
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(run=_status)

    report = commands.add_parser("report", help="cost reports from the database")
    report_commands = report.add_subparsers(required=True, metavar="REPORT")
    costs = report_commands.add_parser("costs", help="a month's cost, revenue and margin by day")
    costs.add_argument("--month", required=True, help="YYYY-MM (UTC)")
    costs.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    costs.set_defaults(run=_report_costs)

    submit = commands.add_parser("submit", help="submit a photo to the API")
    submit.add_argument("photo", type=Path)
    submit.add_argument("--operations", default="restore", help="restore, colorize or both")
    submit.add_argument("--wait", action="store_true", help="wait for the job to finish")
    submit.add_argument("--out", type=Path, help="where to save the result (implies --wait)")
    submit.add_argument("--api-url", help="default: $HEIRLOOM_API_URL or http://127.0.0.1:8000")
    submit.add_argument("--api-key", help="default: $HEIRLOOM_API_KEY or the dev user's key")
    submit.add_argument("--idempotency-key", help="makes a repeated submit return the same job")
    submit.add_argument("--timeout", type=float, default=600.0, help="seconds to wait")
    submit.set_defaults(run=_submit)

    watch = commands.add_parser("watch", help="follow a job's live status until it ends")
    watch.add_argument("job_id")
    watch.add_argument("--api-url", help="default: $HEIRLOOM_API_URL or http://127.0.0.1:8000")
    watch.add_argument("--api-key", help="default: $HEIRLOOM_API_KEY or the dev user's key")
    watch.add_argument("--timeout", type=float, default=600.0, help="seconds to wait")
    watch.set_defaults(run=_watch)

    docs = commands.add_parser(
        "config-docs", help="print the configuration reference (docs/configuration.md)"
    )
    docs.add_argument("--write", type=Path, metavar="PATH", help="write it to PATH instead")
    docs.set_defaults(run=_config_docs)

    error_docs = commands.add_parser(
        "error-docs", help="print the error-code reference (docs/errors.md)"
    )
    error_docs.add_argument("--write", type=Path, metavar="PATH", help="write it to PATH instead")
    error_docs.set_defaults(run=_error_docs)

    openapi = commands.add_parser(
        "openapi", help="print the OpenAPI document (clients/openapi.json, `make clients`)"
    )
    openapi.add_argument("--write", type=Path, metavar="PATH", help="write it to PATH instead")
    openapi.set_defaults(run=_openapi)

    backup = commands.add_parser(
        "backup", help="seal (encrypt, ship, prune) or unseal a backup.sh backup folder"
    )
    backup_commands = backup.add_subparsers(required=True, metavar="ACTION")
    seal = backup_commands.add_parser(
        "seal",
        help="encrypt for HEIRLOOM_BACKUP_AGE_RECIPIENTS, copy to HEIRLOOM_BACKUP_S3_BUCKET, "
        "prune past HEIRLOOM_BACKUP_KEEP_DAYS",
    )
    seal.add_argument(
        "folder", type=Path, help="a backup folder (backups/<stamp>), or backups/ for its newest"
    )
    seal.set_defaults(run=_backup_seal)
    unseal = backup_commands.add_parser("unseal", help="decrypt a sealed folder for a restore")
    unseal.add_argument("folder", type=Path)
    unseal.add_argument("--identity", type=Path, required=True, help="the age secret key file")
    unseal.set_defaults(run=_backup_unseal)

    erasures = commands.add_parser("erasures", help="the erasure log")
    erasure_commands = erasures.add_subparsers(required=True, metavar="ACTION")
    reapply = erasure_commands.add_parser(
        "reapply", help="after a restore: erase again every user erased after the backup"
    )
    reapply.add_argument("--since", required=True, help="the backup's TAKEN_AT (ISO 8601, UTC)")
    reapply.add_argument(
        "--no-workflows",
        action="store_true",
        help="only the database and files, now; skip starting each erasure workflow again "
        "(which also deletes the restored Temporal histories)",
    )
    reapply.set_defaults(run=_erasures_reapply)
    export = erasure_commands.add_parser(
        "export", help="the erasure log as CSV (user_id,erased_at), for restore.sh's ERASURE_LOG"
    )
    export.add_argument("--out", type=Path, help="write it here instead of to stdout")
    export.set_defaults(run=_erasures_export)
    return parser


def _dev(_args: argparse.Namespace) -> int:
    from heirloom.devstack.launcher import run_dev

    return run_dev(Settings())


def _api(_args: argparse.Namespace) -> int:
    import uvicorn

    from heirloom.api.app import create_app

    settings = Settings()
    uvicorn.run(
        create_app(settings), host=settings.api_host, port=settings.api_port, log_level="info"
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    from heirloom.worker.main import run_worker

    # `--tiers none`: no tier queues, e.g. a process that only runs model steps (--gpu-slots).
    tiers = (
        [Tier(t.strip()) for t in args.tiers.split(",") if t.strip() != "none"]
        if args.tiers
        else None
    )
    settings = Settings()
    if args.gpu_slots is not None:
        settings = settings.model_copy(update={"worker_gpu_slots": args.gpu_slots})
    asyncio.run(run_worker(settings, tiers))
    return 0


def _endpoint(_args: argparse.Namespace) -> int:
    from heirloom.devstack.endpoint import serve_endpoint

    serve_endpoint(Settings())
    return 0


def _stripe_standin(_args: argparse.Namespace) -> int:
    from heirloom.devstack.stripe_standin import serve_standin

    serve_standin(Settings())
    return 0


def _mail_catcher(_args: argparse.Namespace) -> int:
    from heirloom.devstack.mail_catcher import serve_catcher

    serve_catcher(Settings())
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    from heirloom.db import migrate

    settings = Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    return 0


def _config_docs(args: argparse.Namespace) -> int:
    from heirloom import config_reference

    if args.write is None:
        sys.stdout.write(config_reference.markdown())
    elif config_reference.write(args.write):
        print(f"wrote {args.write}")
    return 0


def _error_docs(args: argparse.Namespace) -> int:
    from heirloom.domain import error_reference

    if args.write is None:
        sys.stdout.write(error_reference.markdown())
    elif error_reference.write(args.write):
        print(f"wrote {args.write}")
    return 0


def _openapi(args: argparse.Namespace) -> int:
    from heirloom.api.app import openapi_document

    text = json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
    if args.write is None:
        sys.stdout.write(text)
    else:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text, encoding="utf-8")
        print(f"wrote {args.write}")
    return 0


def _accounts() -> tuple[Accounts, CreditManager]:
    from heirloom.db.engine import Database
    from heirloom.services.accounts.keys import ApiKeys
    from heirloom.services.accounts.users import Accounts
    from heirloom.services.money.credits import CreditManager

    settings = Settings()
    db = Database(settings.resolved_database_url, pool_size=1)
    credits = CreditManager(db, prices=settings.prices, tier_rules=settings.tier_rules)
    keys = ApiKeys(
        db,
        max_per_user=settings.max_api_keys_per_user,
        touch_interval_s=settings.api_key_touch_interval_s,
    )
    return Accounts(db, credits, keys), credits


def _user_dict(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "tier": user.tier,
        "role": user.role,
        "balance": user.balance,
        "created_at": user.created_at.isoformat(),
    }


def _users_create(args: argparse.Namespace) -> int:
    from heirloom.services.accounts.users import ROLE_ADMIN, ROLE_USER

    if args.credits < 0:
        print("error: --credits cannot be negative", file=sys.stderr)
        return 2
    accounts, _ = _accounts()
    with _account_errors():
        account = accounts.create(
            email=args.email,
            tier=Tier(args.tier),
            credits=args.credits,
            role=ROLE_ADMIN if args.admin else ROLE_USER,
        )
    if args.json:
        print(json.dumps({**_user_dict(account.user), "api_key": account.api_key}))
    else:
        user = account.user
        print(f"created {user.role} {user.email} ({user.tier}, {user.balance} credits)")
        print(f"user id: {user.id}")
        print(f"API key (shown once, store it now): {account.api_key}")
    return 0


def _users_list(args: argparse.Namespace) -> int:
    accounts, _ = _accounts()
    with _account_errors():
        users = accounts.all()
    if args.json:
        print(json.dumps([_user_dict(user) for user in users]))
        return 0
    print(f"{'id':32}  {'email':32}  {'tier':8}  {'role':5}  {'balance':>7}")
    for user in users:
        print(f"{user.id:32}  {user.email:32}  {user.tier:8}  {user.role:5}  {user.balance:>7}")
    return 0


def _users_grant(args: argparse.Namespace) -> int:
    _, credits = _accounts()
    key = args.idempotency_key or f"cli:{uuid.uuid4().hex}"
    with _account_errors():
        line = credits.grant(args.user_id, args.amount, args.reason, key)
        balance = credits.balance(args.user_id)
    print(f"granted {line.amount} credits to {args.user_id}: balance {balance}")
    return 0


def _backup_seal(args: argparse.Namespace) -> int:
    import boto3

    from heirloom.services.backup import sealing

    settings = Settings()
    folder: Path = args.folder
    if not (folder / "SHA256SUMS").exists():
        # The backups folder itself: its newest backup (what a cron line after backup.sh wants).
        stamped = sorted(p for p in folder.iterdir() if sealing.stamp_time(p.name) is not None)
        if not stamped:
            raise _CommandFailed(f"{folder} holds no backup")
        folder = stamped[-1]
    try:
        sealed = sealing.seal(folder, settings.backup_age_recipients)
    except sealing.BackupError as err:
        raise _CommandFailed(str(err)) from None
    print(f"sealed {len(sealed)} files in {folder}")
    now = sealing.stamp_time(folder.name) or sealing.taken_at(folder)
    for name in sealing.prune_local(folder.parent, settings.backup_keep_days, now):
        print(f"pruned {folder.parent / name}")
    if not settings.backup_s3_bucket:
        print("HEIRLOOM_BACKUP_S3_BUCKET is unset: the backup stays on this host only")
        return 0
    s3 = boto3.client(
        "s3",
        endpoint_url=settings.backup_s3_endpoint_url or None,
        aws_access_key_id=settings.backup_s3_access_key_id or None,
        aws_secret_access_key=settings.backup_s3_secret_access_key or None,
    )
    bucket, prefix = settings.backup_s3_bucket, settings.backup_s3_prefix
    keys = sealing.ship(folder, s3, bucket, prefix)
    print(f"copied {len(keys)} files to s3://{bucket}/{prefix}/{folder.name}/")
    for name in sealing.prune_remote(s3, bucket, prefix, settings.backup_keep_days, now):
        print(f"pruned s3://{bucket}/{prefix}/{name}/")
    return 0


def _backup_unseal(args: argparse.Namespace) -> int:
    from heirloom.services.backup import sealing

    try:
        opened = sealing.unseal(args.folder, args.identity)
    except sealing.BackupError as err:
        raise _CommandFailed(str(err)) from None
    print(f"decrypted {len(opened)} files in {args.folder}; restore.sh checks them")
    return 0


def _erasures_reapply(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from heirloom.services.context import Services

    try:
        since = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
    except ValueError:
        raise _CommandFailed(f"--since {args.since!r} is not an ISO 8601 time") from None
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    settings = Settings()
    services = Services.build(settings, pool_size=1)
    try:
        users = services.erasure.reapply_since(since)
    finally:
        services.close()
    for user_id in users:
        print(f"erased again: {user_id}")
    print(f"{len(users)} erasures logged after {since.isoformat()} re-applied")
    if users and not args.no_workflows:
        asyncio.run(_restart_erasures(settings, users))
    return 0


async def _restart_erasures(settings: Settings, users: list[str]) -> None:
    """Start each user's erasure workflow again: its steps repeat (idempotent) and it deletes
    the user's workflow histories that the restored Temporal databases brought back."""
    from temporalio.client import Client

    from heirloom.starters.erasure import start_erasure

    try:
        client = await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace
        )
    except RuntimeError as err:
        raise _CommandFailed(
            f"Temporal at {settings.temporal_address} does not answer ({err}): the database "
            "and files are erased again; run this again once Temporal is up, for the histories"
        ) from None
    for user_id in users:
        workflow_id = await start_erasure(
            client, user_id, heartbeat_timeout_s=settings.erasure_heartbeat_timeout_s
        )
        print(f"erasure workflow started: {workflow_id}")


def _erasures_export(args: argparse.Namespace) -> int:
    import csv
    import io

    from heirloom.services.context import Services

    services = Services.build(Settings(), pool_size=1)
    try:
        rows = services.erasure.logged()
    finally:
        services.close()
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        (user_id, erased_at.isoformat()) for user_id, erased_at in rows
    )
    if args.out is None:
        sys.stdout.write(out.getvalue())
    else:
        args.out.write_text(out.getvalue())
    return 0


class _CommandFailed(Exception):
    """Ends a command with its message on stderr and exit status 1."""


@contextlib.contextmanager
def _account_errors() -> Iterator[None]:
    from sqlalchemy.exc import SQLAlchemyError

    from heirloom.domain.errors import HeirloomError

    try:
        yield
    except HeirloomError as err:
        raise _CommandFailed(err.message) from err
    except SQLAlchemyError as err:
        raise _CommandFailed(
            f"the database refused: {str(err.orig if hasattr(err, 'orig') else err).strip()} "
            "(has `heirloom migrate` run against HEIRLOOM_DATABASE_URL?)"
        ) from err


def _status(args: argparse.Namespace) -> int:
    from temporalio.client import Client

    from heirloom.services.context import Services
    from heirloom.services.ops.health import CHECK_TIMEOUT_S, readiness
    from heirloom.temporal.task_queues import TemporalTaskQueues

    settings = Settings()

    async def check() -> Readiness:
        services = Services.build(settings, pool_size=1)
        try:
            try:
                client = await asyncio.wait_for(
                    Client.connect(
                        settings.temporal_address, namespace=settings.temporal_namespace
                    ),
                    CHECK_TIMEOUT_S,
                )
            except (TimeoutError, RuntimeError):
                return await readiness(services, None)
            return await readiness(services, TemporalTaskQueues(client))
        finally:
            services.close()

    result = asyncio.run(check())
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print("ready" if result.ready else "NOT READY")
        for item in result.checks:
            print(f"  {item.name:14} {'ok' if item.ok else 'FAIL':4}  {item.detail}")
    return 0 if result.ready else 1


def _api_key(args: argparse.Namespace, settings: Settings) -> str | None:
    """--api-key, $HEIRLOOM_API_KEY or the dev user's key; None (with the reason) if none."""
    api_key: str | None = args.api_key or settings.api_key
    if api_key:
        return api_key
    if not settings.dev_api_key_file.exists():
        print(
            f"error: no API key; pass --api-key, set HEIRLOOM_API_KEY, or run `make dev` "
            f"first (it writes {settings.dev_api_key_file})",
            file=sys.stderr,
        )
        return None
    return settings.dev_api_key_file.read_text().strip()


def _watch(args: argparse.Namespace) -> int:
    settings = Settings()
    api_url = args.api_url or settings.api_base_url
    api_key = _api_key(args, settings)
    if api_key is None:
        return 2
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=60.0) as client:
        try:
            response = client.get(f"/v1/jobs/{args.job_id}")
        except httpx.HTTPError as err:
            print(f"error: cannot reach the API at {api_url}: {err}", file=sys.stderr)
            return 1
        if response.status_code != 200:
            return _report_error(response)
        job = _wait(client, response.json(), timeout=args.timeout)
    error = job.get("error") or {}
    print(f"job {job['id']} {job['status']}" + (f": {error['message']}" if error else ""))
    return 0 if job["status"] == "completed" else 1


def _report_costs(args: argparse.Namespace) -> int:
    import csv
    from datetime import UTC, datetime

    from heirloom.services.context import Services
    from heirloom.services.money.costs import REPORT_COLUMNS, next_period, report_rows

    try:
        start = datetime.strptime(args.month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        print("error: --month takes YYYY-MM, e.g. 2026-11", file=sys.stderr)
        return 2
    services = Services.build(Settings(), pool_size=1)
    try:
        report = services.costs.report("day", start, next_period(start, "month"))
    finally:
        services.close()
    rows = report_rows(report)
    if args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=REPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return 0
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in REPORT_COLUMNS}
    print("  ".join(c.rjust(widths[c]) for c in REPORT_COLUMNS))
    for row in rows:
        print("  ".join(row[c].rjust(widths[c]) for c in REPORT_COLUMNS))
    forecast = report.forecast
    print(
        f"forecast {forecast.month}: cost {forecast.cost_forecast_usd:.2f} USD, revenue "
        f"{forecast.revenue_forecast_usd:.2f} USD (to date {forecast.cost_to_date_usd:.2f} / "
        f"{forecast.revenue_to_date_usd:.2f})"
    )
    return 0


def _submit(args: argparse.Namespace) -> int:
    settings = Settings()
    api_url = args.api_url or settings.api_base_url
    api_key = _api_key(args, settings)
    if api_key is None:
        return 2
    if not args.photo.is_file():
        print(f"error: {args.photo} is not a file", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {api_key}"}
    if args.idempotency_key:
        headers["Idempotency-Key"] = args.idempotency_key
    with httpx.Client(base_url=api_url, headers=headers, timeout=60.0) as client:
        try:
            with args.photo.open("rb") as photo:
                response = client.post(
                    "/v1/jobs",
                    files={"file": (args.photo.name, photo)},
                    data={"operations": args.operations},
                )
        except httpx.HTTPError as err:
            print(f"error: cannot reach the API at {api_url}: {err}", file=sys.stderr)
            return 1
        if response.status_code not in (200, 202):
            return _report_error(response)
        job = response.json()
        print(f"job {job['id']}: {job['status']}, charged {job['credits_charged']} credits")
        if not (args.wait or args.out):
            return 0
        job = _wait(client, job, timeout=args.timeout)
        if job["status"] != "completed":
            error = job.get("error") or {}
            print(
                f"job {job['id']} {job['status']}: {error.get('message', '')}",
                file=sys.stderr,
            )
            return 1
        print(f"job {job['id']} completed ({job['width']}x{job['height']})")
        if args.out:
            result = client.get(f"/v1/jobs/{job['id']}/result")
            if result.status_code != 200:
                return _report_error(result)
            args.out.write_bytes(result.content)
            print(f"saved {args.out}")
    return 0


def _wait(client: httpx.Client, job: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """Follow the job's event stream until it ends (resuming after a drop); poll if the
    stream cannot be had. Returns the job as GET /v1/jobs/{id} shows it."""
    deadline = time.monotonic() + timeout
    with tqdm(total=100, unit="%", desc="queued", bar_format="{desc:<15} {bar} {n:3.0f}%") as bar:

        def show(state: dict[str, Any]) -> None:
            bar.set_description_str(str(state["stage"]), refresh=False)
            bar.update(max(0, int(str(state["progress"])) - int(bar.n)))

        show(job)
        last_id: str | None = None
        for _ in range(_STREAM_RECONNECTS):
            if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
                break
            try:
                job, last_id = _follow(client, job, last_id, show, deadline)
            except (httpx.HTTPError, SSEError):
                continue  # resume after the last event seen
        while job["status"] in ("queued", "running"):
            if time.monotonic() > deadline:
                print(f"\ngave up waiting after {timeout:.0f}s", file=sys.stderr)
                return job
            time.sleep(0.3)
            response = client.get(f"/v1/jobs/{job['id']}")
            response.raise_for_status()
            job = response.json()
            show(job)
    response = client.get(f"/v1/jobs/{job['id']}")
    response.raise_for_status()
    full: dict[str, Any] = response.json()
    return full


# A dropped stream is resumed this many times before falling back to polling.
_STREAM_RECONNECTS = 5


def _follow(
    client: httpx.Client,
    job: dict[str, Any],
    last_id: str | None,
    show: Callable[[dict[str, Any]], None],
    deadline: float,
) -> tuple[dict[str, Any], str | None]:
    """Read the job's SSE stream until the server ends it; the last state and event id."""
    headers = {"Last-Event-ID": last_id} if last_id is not None else {}
    timeout = httpx.Timeout(30.0, read=max(1.0, deadline - time.monotonic()))
    with connect_sse(
        client, "GET", f"/v1/jobs/{job['id']}/events", headers=headers, timeout=timeout
    ) as source:
        source.response.raise_for_status()
        for sse in source.iter_sse():
            body = json.loads(sse.data)
            job, last_id = {**job, **body["job"]}, sse.id or last_id
            show(job)
    return job, last_id


def _report_error(response: httpx.Response) -> int:
    try:
        error = response.json()["error"]
        print(f"error {response.status_code} {error['code']}: {error['message']}", file=sys.stderr)
    except (ValueError, KeyError, TypeError):
        print(f"error {response.status_code}: {response.text[:500]}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
