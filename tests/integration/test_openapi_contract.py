"""The API contract: every status a route answers is declared with the shared error schema,
405 carries a complete Allow, security headers on every answer, CORS only from the allow-list,
and schemathesis (all checks, every phase, a fixed seed) finds no failure in the served app."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from heirloom.api.app import create_app
from heirloom.api.version import API_VERSION
from heirloom.config import Settings
from heirloom.domain.tiers import Tier
from tests.conftest import MailCatcher, ServedApi, Stack

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
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-2000:]


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_schemathesis_as_a_paying_user_with_a_worker_finds_no_valid_request_refused(
    stack: Stack, tmp_path: Path
) -> None:
    """Every request the document calls valid is accepted for a user who can pay, with a worker
    taking jobs: what the server enforces is in the schema (tests/schemathesis.toml names the
    few rules a schema cannot state)."""
    _, key = stack.new_user(tier=Tier.PAID, credits=10_000)
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert binary is not None, "schemathesis is a dev dependency"
    command = [
        binary,
        "--config-file",
        str(SCHEMATHESIS_CONFIG),
        "--no-color",
        "run",
        f"{stack.api_url}/openapi.json",
        "--checks",
        "positive_data_acceptance,not_a_server_error",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "10",
        "--workers",
        "1",
        # Admin routes answer this user 403; closing the account would end the run's key.
        "--exclude-path-regex",
        "^/v1/admin/",
        "--exclude-name",
        "DELETE /v1/me",
        "--header",
        f"Authorization: Bearer {key}",
        "--report-dir",
        str(tmp_path),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=280, check=False, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-2000:]
