"""The API contract: every status a route answers is declared with the shared error schema,
405 carries a complete Allow, security headers on every answer, CORS only from the allow-list,
and schemathesis (all checks, every phase, a fixed seed) finds no failure in the served app."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import col, select

from heirloom.api.app import create_app
from heirloom.api.version import API_VERSION
from heirloom.config import Settings
from heirloom.db.models import Job, WebhookDelivery
from heirloom.devstack.mail_catcher import messages
from heirloom.domain.jobs import JobStatus
from heirloom.domain.tiers import Tier
from tests.conftest import MailCatcher, ServedApi, Stack
from tests.harness.stack import LocalNames, serving
from tests.harness.stripe import API_KEY as STRIPE_API_KEY
from tests.harness.stripe import standin as stripe_standin
from tests.integration.test_webhooks import Receiver
from tests.support import photo_bytes, submit, wait_final, wait_until

ServeApi = Callable[..., ServedApi]

SCHEMATHESIS_CONFIG = Path(__file__).parent.parent / "schemathesis.toml"
ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorResponse"}
# The one error status whose body is not an error: /readyz's 503 is the readiness report.
READINESS_REPORT = {("get", "/readyz"): {503}}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_route_declares_its_error_statuses_with_the_shared_schema(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path))
    document = app.openapi()
    operations = _operations(document)
    assert len(operations) >= 15
    for path, method, operation in operations:
        responses = operation["responses"]
        errors = {int(code) for code in responses if int(code) >= 400}
        assert {429, 500} <= errors, (method, path)
        for code in errors - READINESS_REPORT.get((method, path), set()):
            schema = responses[str(code)]["content"]["application/json"]["schema"]
            assert schema == ERROR_SCHEMA, (method, path, code)
        if operation.get("security"):
            assert 401 in errors, (method, path)
        if path.startswith("/v1/admin"):
            assert 403 in errors, (method, path)
        if "{" in path:
            assert 404 in errors, (method, path)


def test_job_submission_declares_what_only_it_can_answer(tmp_path: Path) -> None:
    document = create_app(Settings(home=tmp_path)).openapi()
    submit = document["paths"]["/v1/jobs"]["post"]["responses"]
    assert {"400", "401", "402", "409", "413", "429", "503"} <= set(submit)
    assert "Retry-After" in submit["429"]["headers"]


def test_405_names_every_method_of_the_path(serve_api: ServeApi) -> None:
    api = serve_api()
    with api.client() as client:
        answer = client.put("/v1/jobs")
        assert answer.status_code == 405
        assert answer.headers["Allow"] == "GET, POST"
        assert answer.json()["error"]["code"] == "method_not_allowed"
        assert client.patch("/v1/jobs/abc").headers["Allow"] == "DELETE, GET"


def test_security_headers_on_every_answer(serve_api: ServeApi) -> None:
    api = serve_api()
    _, key = api.new_user()
    with api.client() as anonymous, api.client(key) as client:
        answers = {
            "public": anonymous.get("/v1/pricing"),
            "unauthorized": anonymous.get("/v1/me"),
            "not found": anonymous.get("/nowhere"),
            "method": anonymous.delete("/v1/pricing"),
            "account": client.get("/v1/me"),
        }
    for name, answer in answers.items():
        assert answer.headers["X-Content-Type-Options"] == "nosniff", name
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"], name
        assert answer.headers["Heirloom-Version"] == API_VERSION, name
    assert answers["account"].headers["Cache-Control"] == "no-store"
    assert "Access-Control-Allow-Origin" not in answers["account"].headers


def test_hsts_only_on_answers_over_tls_from_a_trusted_proxy(serve_api: ServeApi) -> None:
    api = serve_api()
    https = {"X-Forwarded-Proto": "https"}
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 only (FORWARDED_ALLOW_IPS), as the
    # compose file's proxy is trusted inside its network.
    with api.client() as proxy, api.client(address="127.0.0.2") as stranger:
        over_tls = proxy.get("/v1/pricing", headers=https)
        plain = proxy.get("/v1/pricing")
        spoofed = stranger.get("/v1/pricing", headers=https)
    assert over_tls.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in plain.headers
    assert "Strict-Transport-Security" not in spoofed.headers

    off = serve_api(hsts_max_age_s=0)
    with off.client() as proxy:
        assert "Strict-Transport-Security" not in proxy.get("/healthz", headers=https).headers


def test_cors_answers_only_allowed_origins(serve_api: ServeApi) -> None:
    api = serve_api(cors_allow_origins=["https://app.example.com"])
    preflight = {"Access-Control-Request-Method": "GET"}
    with api.client() as client:
        allowed = client.options(
            "/v1/me", headers={"Origin": "https://app.example.com", **preflight}
        )
        refused = client.options("/v1/me", headers={"Origin": "https://evil.example", **preflight})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_cors_is_off_by_default(serve_api: ServeApi) -> None:
    api = serve_api()
    with api.client() as client:
        answer = client.get("/v1/pricing", headers={"Origin": "https://app.example.com"})
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_schemathesis_finds_no_failure(
    serve_api: ServeApi, mail_catcher: MailCatcher, tmp_path: Path
) -> None:
    # Fuzzing sends thousands of requests a minute from one address; the budgets themselves
    # are tested in test_rate_limits.py. Sign-ups send their links to the session's catcher.
    api = serve_api(rate_limits_enabled=False, smtp_port=mail_catcher.port)
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert binary is not None, "schemathesis is a dev dependency"
    command = [
        binary,
        "--config-file",
        str(SCHEMATHESIS_CONFIG),
        "--no-color",
        "run",
        f"{api.url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        "25",
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {api.admin_key}",
        "--report-dir",
        str(tmp_path),
    ]
    # Generated webhook hosts go to the stack's local resolver (tests/harness/stack.py): none
    # reaches DNS, nothing leaves loopback.
    with no_traffic_beyond_loopback() as refused:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path
        )
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-2000:]
    assert refused == set()


# --- schemathesis as a paying user, on a stack with state ------------------------------------

# User routes that no request the document calls valid brings to 2xx for this user, and why.
# Every other route a user may call must answer 2xx at least once in the run (and these never:
# a route that starts answering 2xx leaves this list).
NO_2XX_FOR_A_USER: dict[str, str] = {
    # Accepted only with Stripe's signature over the exact body and a current timestamp: only
    # Stripe (or a test holding the secret, test_purchases.py) can send one.
    "POST /v1/stripe/webhook": "needs Stripe-Signature computed over the exact body",
}


@dataclass(frozen=True)
class UserWorld:
    """What the user has before the run: every `{id}` the document names is a real one."""

    job: str  # completed, with four candidates, shared
    job_to_delete: str
    failed_job: str
    waiting_job: str  # its RunPod job waits in the queue: cancellable until cancelled
    share_token: str  # of `job`, downloads allowed
    share_to_revoke: str  # of `job`
    album: str  # completed, shared
    album_token: str
    album_photo: str
    album_to_share: str  # shared and unshared by the run, so `album_token` keeps working
    export: str  # ready
    delivery: int  # a webhook delivery of a job event, ended
    key_to_delete: str
    key_to_revoke: str
    signup_token: str  # a sign-up link that was emailed
    closing_key: str  # another user's key: DELETE /v1/me closes that account, not this one
    hook_url: str  # the local receiver, by a name the stack resolves to loopback


def ascii_bmp(side: int = 32) -> str:
    """A `side`-pixel square 24-bit BMP whose every byte is below 0x80: a photo that passes
    through a TOML string and schemathesis' UTF-8 multipart encoding unchanged."""
    pixels = b"".join(
        bytes((4 * x + y + 40 * channel) % 128 for x in range(side) for channel in range(3))
        for y in range(side)
    )
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    data = header + info + pixels
    assert max(data) < 0x80
    assert side * 3 % 4 == 0  # rows need no padding
    return data.decode("ascii")


def _toml(value: object) -> str:
    """A TOML value: strings as JSON writes them (valid TOML basic strings), inline tables."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def user_run_config(world: UserWorld) -> str:
    """tests/schemathesis.toml with the world's ids. Top-level keys come first (a key after a
    table header belongs to that table); per-operation entries come last."""
    shared = {
        "path.job_id": world.job,
        "path.album_id": world.album,
        "path.export_id": world.export,
        "path.delivery_id": world.delivery,
    }
    photo = ascii_bmp()
    # Destructive operations act on spares, so every other operation keeps its object.
    operations: list[dict[str, object]] = [
        {
            "include-name": "DELETE /v1/jobs/{job_id}",
            "parameters": {"path.job_id": world.job_to_delete},
        },
        {
            "include-name": "POST /v1/jobs/{job_id}/retry",
            "parameters": {"path.job_id": world.failed_job},
        },
        {
            "include-name": "POST /v1/jobs/{job_id}/cancel",
            "parameters": {"path.job_id": world.waiting_job},
        },
        {
            "include-name": "DELETE /v1/jobs/{job_id}/shares/{share_id}",
            "parameters": {"path.share_id": world.share_to_revoke},
        },
        {
            "include-path": "/v1/albums/{album_id}/shares",
            "parameters": {"path.album_id": world.album_to_share},
        },
        {
            "include-name": "DELETE /v1/me/keys/{key_id}",
            "parameters": {"path.key_id": world.key_to_delete},
        },
        {
            "include-name": "POST /v1/me/keys/{key_id}/revoke",
            "parameters": {"path.key_id": world.key_to_revoke},
        },
        {"include-path-regex": "^/s/", "parameters": {"path.token": world.share_token}},
        {
            "include-path-regex": "^/a/",
            "parameters": {"path.token": world.album_token, "path.job_id": world.album_photo},
        },
        {
            "include-name": "DELETE /v1/me",
            "headers": {"Authorization": f"Bearer {world.closing_key}"},
        },
        # The webhook goes to the local receiver only: at a generated public address the
        # worker would post the jobs' events there (the admin run, which has no worker, fuzzes
        # the URLs; a callback_url beyond loopback is refused by `no_traffic_beyond_loopback`).
        {"include-name": "PUT /v1/me/webhook", "parameters": {"body.url": world.hook_url}},
        # Data a schema cannot state: a decodable photo of at least 32 pixels a side, a pack
        # GET /v1/pricing lists, a link the sign-up email carried.
        {"include-name": "POST /v1/jobs", "parameters": {"body.file": photo}},
        {
            "include-name": "POST /v1/albums",
            "parameters": {"body.files": [photo], "body.operations": "restore"},
        },
        {"include-name": "POST /v1/checkout", "parameters": {"body.pack": "credits-50"}},
        {
            "include-name": "POST /v1/signup/confirm",
            "parameters": {"body.token": world.signup_token},
        },
    ]
    entries = "".join(
        "\n[[operations]]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in entry.items())
        for entry in operations
    )
    return f"parameters = {_toml(shared)}\n\n{SCHEMATHESIS_CONFIG.read_text()}{entries}"


def _photo_part(name: str, seed: int) -> tuple[str, tuple[str, bytes, str]]:
    return (name, (f"photo-{seed}.jpg", photo_bytes(96, 64, seed=seed), "image/jpeg"))


def _created(answer: httpx.Response, status: int = 202) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _album_completed(client: httpx.Client, album_id: str) -> bool:
    return bool(client.get(f"/v1/albums/{album_id}").json()["status"] == "completed")


def _signup_token(api_url: str, mail: MailCatcher) -> str:
    address = f"fuzz-{uuid.uuid4().hex[:8]}@example.org"
    with httpx.Client(base_url=api_url, timeout=30) as anonymous:
        _created(anonymous.post("/v1/signup", json={"email": address}))

    def emailed() -> str | None:
        for message in messages(mail.folder):
            if message["To"] == address:
                found = re.search(r"#/confirm/([A-Za-z0-9_-]+)", message.get_content())
                assert found, message.get_content()
                return found.group(1)
        return None

    return wait_until(emailed, "the sign-up email")


def seed_world(stack: Stack, api_url: str, key: str, hook_url: str, mail: MailCatcher) -> UserWorld:
    """Build the user's state through the API (served beside `stack`, on its worker)."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=30) as client:
        # Set first, so the jobs' events below owe deliveries.
        _created(client.put("/v1/me/webhook", json={"url": hook_url}), 200)
        try:
            stack.set_faults(stuck_in_queue=1.0)
            waiting = _created(submit(client, photo_bytes(96, 64, seed=71)))["id"]
            wait_until(lambda: stack.services.jobs.get(waiting).runpod_job_id, "the RunPod job")
            stack.set_faults(failed=1.0)
            failed = _created(submit(client, photo_bytes(96, 64, seed=72)))["id"]
            assert wait_final(client, failed)["status"] == "failed"
        finally:
            stack.set_faults()
        job = _created(
            client.post(
                "/v1/jobs",
                files=[_photo_part("file", 73)],
                data={"operations": "restore", "candidates": "4"},
            )
        )["id"]
        to_delete = _created(submit(client, photo_bytes(96, 64, seed=74)))["id"]
        albums = [
            _created(
                client.post(
                    "/v1/albums", files=[_photo_part("files", seed)], data={"operations": "restore"}
                )
            )
            for seed in (75, 76)
        ]
        for job_id in (job, to_delete):
            assert wait_final(client, job_id)["status"] == "completed"
        for album in albums:
            wait_until(partial(_album_completed, client, album["id"]), "the album to complete")
        share = _created(client.post(f"/v1/jobs/{job}/shares", json={"allow_download": True}), 201)
        to_revoke = _created(client.post(f"/v1/jobs/{job}/shares", json={}), 201)
        album_share = _created(client.post(f"/v1/albums/{albums[0]['id']}/shares"), 201)
        export = _created(client.post("/v1/me/exports"))["id"]
        wait_until(
            lambda: client.get(f"/v1/me/exports/{export}").json()["status"] == "ready",
            "the export",
        )

        def ended_delivery() -> int | None:
            log = client.get("/v1/me/webhook/deliveries").json()["deliveries"]
            ended = [d["id"] for d in log if d["state"] in ("delivered", "failed")]
            return ended[0] if ended else None

        delivery = wait_until(ended_delivery, "a webhook delivery")
        keys = [
            _created(client.post("/v1/me/keys", json={"name": name}), 201)["id"]
            for name in ("spare to delete", "spare to revoke")
        ]
    _, closing_key = stack.new_user(credits=0)
    return UserWorld(
        job=job,
        job_to_delete=to_delete,
        failed_job=failed,
        waiting_job=waiting,
        share_token=share["url"].rpartition("/s/")[2],
        share_to_revoke=to_revoke["id"],
        album=albums[0]["id"],
        album_token=album_share["url"].rpartition("/a/")[2],
        album_photo=albums[0]["jobs"][0]["id"],
        album_to_share=albums[1]["id"],
        export=export,
        delivery=delivery,
        key_to_delete=keys[0],
        key_to_revoke=keys[1],
        signup_token=_signup_token(api_url, mail),
        closing_key=closing_key,
        hook_url=hook_url,
    )


def settle(stack: Stack, api_url: str, key: str, user_id: str, world: UserWorld) -> None:
    """Leave the shared stack idle: the queued job cancelled, every job the run started ended,
    and every delivery owed sent (the webhook set again: the run may have removed it, and a
    delivery retries for a day)."""
    services = stack.services
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=30) as client:
        cancel = client.post(f"/v1/jobs/{world.waiting_job}/cancel")
        assert cancel.status_code in (202, 409), cancel.text
        _created(client.put("/v1/me/webhook", json={"url": world.hook_url}), 200)

    def all_ended() -> bool:
        with services.db.session() as session:
            jobs = session.exec(select(Job.status).where(Job.user_id == user_id)).all()
            owed = session.exec(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.user_id == user_id,
                    col(WebhookDelivery.state).in_(("pending", "sending")),
                )
            ).all()
        return not owed and all(JobStatus(status).is_final for status in jobs)

    wait_until(all_ended, "the run's jobs and deliveries to end")


def route_statuses(har: Path, document: dict[str, Any]) -> dict[str, Counter[int]]:
    """Answers by operation ("METHOD /path/{param}"), from the run's HAR file: a URL is the
    document's path whose literal segments it matches, the most literal one first."""
    templates = sorted(
        (
            (sum(not part.startswith("{") for part in path.split("/")), method.upper(), path)
            for path, item in document["paths"].items()
            for method in item
        ),
        reverse=True,
    )
    patterns = [
        (
            method,
            path,
            re.compile(
                "^"
                + "/".join(
                    "[^/]+" if part.startswith("{") else re.escape(part) for part in path.split("/")
                )
                + "$"
            ),
        )
        for _, method, path in templates
    ]
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    for entry in json.loads(har.read_text())["log"]["entries"]:
        method = entry["request"]["method"]
        url_path = urlsplit(entry["request"]["url"]).path
        name = next(
            (
                f"{method} {path}"
                for m, path, pattern in patterns
                if m == method and pattern.match(url_path)
            ),
            f"{method} {url_path} (not in the document)",
        )
        counts[name][entry["response"]["status"]] += 1
    return dict(counts)


@contextmanager
def no_traffic_beyond_loopback() -> Iterator[set[str]]:
    """Refuse, and record, every host this process looks up or connects to (every connection
    looks its host up first, an address too) beyond loopback: nothing a run does reaches a
    real DNS server or another machine."""
    refused: set[str] = set()
    system = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _is_loopback(name):
            refused.add(name)
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: only loopback in this test")
        return system(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", loopback_only)
        yield refused


def _is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_schemathesis_as_a_paying_user_with_a_worker_reaches_every_route(
    stack: Stack, mail_catcher: MailCatcher, tmp_path: Path
) -> None:
    """Every request the document calls valid is accepted for a user who can pay, with a worker
    taking jobs, on real objects (jobs, shares, an album, an export, a delivery, keys): what
    the server enforces is in the schema (tests/schemathesis.toml names the few rules a schema
    cannot state), and every route a user may call answers 2xx at least once."""
    user_id, key = stack.new_user(tier=Tier.PAID, credits=10_000)
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert binary is not None, "schemathesis is a dev dependency"
    receiver = Receiver([])
    hook_url = receiver.url.replace("127.0.0.1", "localhost")  # a name the stack resolves
    # An API beside the stack, on its database and worker: its budgets off (fuzzing sends
    # thousands of requests a minute from one address; test_rate_limits.py tests them) and
    # Stripe's local stand-in behind checkout.
    try:
        with (
            no_traffic_beyond_loopback() as refused,
            stripe_standin("http://127.0.0.1:9/unused") as stripe_url,
            serving(
                stack.settings.model_copy(
                    update={
                        "rate_limits_enabled": False,
                        "stripe_api_base": stripe_url,
                        "stripe_api_key": STRIPE_API_KEY,
                    }
                ),
                pool_size=4,
            ) as served,
        ):
            began = time.monotonic()
            world = seed_world(stack, served.api_url, key, hook_url, mail_catcher)
            seeded = time.monotonic()
            config = tmp_path / "schemathesis-user.toml"
            config.write_text(user_run_config(world))
            har = tmp_path / "user-run.har"
            command = [
                binary,
                "--config-file",
                str(config),
                "--no-color",
                "run",
                f"{served.api_url}/openapi.json",
                "--checks",
                "positive_data_acceptance,not_a_server_error",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "10",
                "--workers",
                "1",
                # Admin routes answer this user 403 (the admin run covers them).
                "--exclude-path-regex",
                "^/v1/admin/",
                "--header",
                f"Authorization: Bearer {key}",
                "--report",
                "har",
                "--report-har-path",
                str(har),
            ]
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=280, check=False, cwd=tmp_path
            )
            ran = time.monotonic()
            settle(stack, served.api_url, key, user_id, world)
            settled = time.monotonic()
            document = httpx.get(f"{served.api_url}/openapi.json").json()
            resolver_asked = served.services.webhooks.resolver
    finally:
        receiver.close()
    user_routes = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if not path.startswith("/v1/admin/")
    }
    statuses = route_statuses(har, document)
    print(
        f"\nschemathesis as a paying user (seeded in {seeded - began:.0f} s, run in "
        f"{ran - seeded:.0f} s, settled in {settled - ran:.0f} s): answers by route"
    )
    for name, counts in sorted(statuses.items(), key=lambda item: item[0].split(" ")[::-1]):
        if name in user_routes:
            print(f"  {name}: {dict(sorted(counts.items()))}")
    others = sum(sum(c.values()) for name, c in statuses.items() if name not in user_routes)
    print(f"  (and {others} requests with methods the document does not list for their path)")
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-2000:]
    reached = {name for name, counts in statuses.items() if any(200 <= s < 300 for s in counts)}
    assert sorted(user_routes - reached - set(NO_2XX_FOR_A_USER)) == []
    assert sorted(reached & set(NO_2XX_FOR_A_USER)) == []
    # Generated webhook hosts went to the stack's local resolver; nothing left loopback.
    assert isinstance(resolver_asked, LocalNames)
    assert sum(resolver_asked.asked.values()) > 0
    assert refused == set()
