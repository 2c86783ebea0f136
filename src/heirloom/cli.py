"""The `heirloom` command: dev | api | worker | runpod-endpoint | migrate | submit."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from heirloom.config import Settings
from heirloom.domain.tiers import Tier


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # `submit` draws a progress bar; request logs would tear it.
    quiet = args.run in (_submit, _dev)
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,  # the runpod SDK configures the root logger when imported
    )
    code: int = args.run(args)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heirloom", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    dev = commands.add_parser("dev", help="run the whole stack locally (Ctrl-C stops it)")
    dev.set_defaults(run=_dev)

    api = commands.add_parser("api", help="serve the REST API with uvicorn")
    api.set_defaults(run=_api)

    worker = commands.add_parser("worker", help="run Temporal workers for tier task queues")
    worker.add_argument("--tiers", help="comma-separated tiers (default: all)")
    worker.set_defaults(run=_worker)

    endpoint = commands.add_parser(
        "runpod-endpoint", help="serve the local RunPod-compatible endpoint (CPU engine)"
    )
    endpoint.set_defaults(run=_endpoint)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(run=_migrate)

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

    tiers = [Tier(t.strip()) for t in args.tiers.split(",")] if args.tiers else None
    asyncio.run(run_worker(Settings(), tiers))
    return 0


def _endpoint(_args: argparse.Namespace) -> int:
    from heirloom.devstack.endpoint import serve_endpoint

    serve_endpoint(Settings())
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    from heirloom.db import migrate

    settings = Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    return 0


def _submit(args: argparse.Namespace) -> int:
    settings = Settings()
    api_url = args.api_url or settings.api_base_url
    api_key = args.api_key or settings.api_key
    if not api_key:
        if not settings.dev_api_key_file.exists():
            print(
                f"error: no API key; pass --api-key, set HEIRLOOM_API_KEY, or run `make dev` "
                f"first (it writes {settings.dev_api_key_file})",
                file=sys.stderr,
            )
            return 2
        api_key = settings.dev_api_key_file.read_text().strip()
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
    deadline = time.monotonic() + timeout
    with tqdm(total=100, unit="%", desc="queued", bar_format="{desc:<15} {bar} {n:3.0f}%") as bar:
        while job["status"] in ("queued", "running"):
            if time.monotonic() > deadline:
                print(f"\ngave up waiting after {timeout:.0f}s", file=sys.stderr)
                break
            time.sleep(0.3)
            response = client.get(f"/v1/jobs/{job['id']}")
            response.raise_for_status()
            job = response.json()
            progress = int(str(job["progress"]))
            bar.set_description_str(str(job["stage"]), refresh=False)
            bar.update(progress - bar.n)
    return job


def _report_error(response: httpx.Response) -> int:
    try:
        error = response.json()["error"]
        print(f"error {response.status_code} {error['code']}: {error['message']}", file=sys.stderr)
    except (ValueError, KeyError, TypeError):
        print(f"error {response.status_code}: {response.text[:500]}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
