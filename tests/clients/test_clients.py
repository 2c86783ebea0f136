"""The generated clients: current with the API's OpenAPI document, and each one, driven against
the running stack, submits a photo, follows its events to completion, downloads the result,
creates a share and verifies a webhook the stack really sent with its own helper."""

from __future__ import annotations

import base64
import collections
import filecmp
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from heirloom.api.app import openapi_document
from heirloom.api.version import API_VERSION
from tests.conftest import Stack
from tests.harness.required import unavailable
from tests.integration.test_webhooks import Receiver, _deliver_owed
from tests.support import HANG_GUARD_S, HangGuard, photo_bytes

ROOT = Path(__file__).parents[2]
CLIENTS = ROOT / "clients"
GENERATED = CLIENTS / "python" / "heirloom_client" / "generated"
NODE_TOOLS = ROOT / ".tools" / "node" / "node_modules" / ".bin"
STALE = "the clients are stale: run `make clients` and commit clients/"

# One stack is enough: the clients speak HTTP, the database behind is tested elsewhere.
stack_param = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


def test_the_stored_openapi_document_is_the_apps() -> None:
    stored = json.loads((CLIENTS / "openapi.json").read_text(encoding="utf-8"))
    assert stored == openapi_document(), STALE


def test_operation_ids_are_unique_names_the_clients_use() -> None:
    document = openapi_document()
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert [name for name, n in collections.Counter(ids).items() if n > 1] == []
    assert "create_job" in ids


def test_the_python_client_is_generated_from_the_stored_document(tmp_path: Path) -> None:
    venv_bin = str(Path(sys.executable).parent)
    generator = shutil.which("openapi-python-client", path=venv_bin)
    assert generator is not None, "openapi-python-client is in the dev extra"
    out = tmp_path / "generated"
    subprocess.run(
        [
            generator,
            "generate",
            "--path",
            str(CLIENTS / "openapi.json"),
            "--config",
            str(CLIENTS / "python" / "openapi-python-client.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        # Its post-hooks format the code with this venv's ruff, as `make clients` does.
        env={**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    assert (
        _differences(filecmp.dircmp(out, GENERATED, ignore=["__pycache__", ".ruff_cache"])) == []
    ), STALE


def test_the_typescript_types_are_generated_from_the_stored_document(tmp_path: Path) -> None:
    generator = NODE_TOOLS / "openapi-typescript"
    if not generator.exists():
        unavailable("node", "openapi-typescript is not installed: make installs it with npm")
    out = tmp_path / "schema.d.ts"
    subprocess.run(
        [str(generator), str(CLIENTS / "openapi.json"), "--output", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    expected = (CLIENTS / "typescript" / "src" / "schema.d.ts").read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == expected, STALE


def test_the_typescript_declarations_compile_over_the_generated_schema() -> None:
    compiler = NODE_TOOLS / "tsc"  # typescript, which openapi-typescript installs beside it
    if not compiler.exists():
        unavailable("node", "tsc is not installed: make installs openapi-typescript with npm")
    declarations = CLIENTS / "typescript" / "src" / "index.d.ts"
    ran = subprocess.run(
        [str(compiler), "--noEmit", "--strict", "--lib", "es2022,dom", str(declarations)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_both_clients_name_the_api_version() -> None:
    from heirloom_client.version import API_VERSION as PYTHON_CLIENT_VERSION

    assert PYTHON_CLIENT_VERSION == API_VERSION
    script = (CLIENTS / "typescript" / "src" / "index.js").read_text(encoding="utf-8")
    assert f'export const API_VERSION = "{API_VERSION}";' in script


def _differences(compared: filecmp.dircmp[str]) -> list[str]:
    found = [f"{compared.left}: {name}" for name in compared.left_only + compared.right_only]
    found += [f"{compared.right}/{name} differs" for name in compared.diff_files]
    for sub in compared.subdirs.values():
        found += _differences(sub)
    return found


def _webhook_delivery(stack: Stack, user_id: str, receiver: Receiver) -> tuple[bytes, str]:
    """The first delivery the stack sent the receiver: its raw body and signature header."""
    guard = HangGuard("a webhook delivered")
    while not receiver.requests:
        guard.check()
        _deliver_owed(stack, user_id)
    headers, body = receiver.requests[0]
    return body, headers["Heirloom-Signature"]


@stack_param
def test_the_python_client_runs_a_job_end_to_end(stack: Stack) -> None:
    from heirloom_client import ApiError, Heirloom, verify_webhook
    from heirloom_client.generated.api.webhooks import set_webhook
    from heirloom_client.generated.models import WebhookIn, WebhookOut

    user_id, key = stack.new_user(credits=20)
    receiver = Receiver([])
    try:
        with Heirloom(stack.api_url, key) as heirloom:
            hook = set_webhook.sync(client=heirloom.client, body=WebhookIn(url=receiver.url))
            assert isinstance(hook, WebhookOut)
            assert isinstance(hook.secret, str)

            job = heirloom.upload(photo_bytes(320, 240), "restore", file_name="old.jpg")
            assert job.status in ("queued", "running")  # charged and started
            events = [event.type for event in heirloom.events(job.id)]
            assert events[0] == "snapshot"
            assert events[-1] == "job.completed", events
            done = heirloom.wait(job.id, timeout_s=HANG_GUARD_S)
            assert (done.status, done.progress) == ("completed", 100)

            result = heirloom.download_result(job.id)
            assert result[:3] == b"\xff\xd8\xff"  # a JPEG
            share = heirloom.share(job.id, expires_in_s=3600)
            assert isinstance(share.url, str)
            assert httpx.get(share.url, timeout=30).status_code == 200

            with pytest.raises(ApiError) as refused:
                heirloom.job("no-such-job")
            assert (refused.value.status, refused.value.code) == (404, "not_found")

        body, signature = _webhook_delivery(stack, user_id, receiver)
        assert verify_webhook(body, signature, hook.secret)
        assert verify_webhook(body, signature, ["an-older-secret", hook.secret])
        assert not verify_webhook(body + b" ", signature, hook.secret)
        assert not verify_webhook(body, signature, "another-secret")
        an_hour_later = time.time() + 3600  # past the signature's tolerance
        assert not verify_webhook(body, signature, hook.secret, now=an_hour_later)
    finally:
        receiver.close()


@stack_param
def test_the_typescript_client_runs_a_job_end_to_end(stack: Stack, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("node", "node is not installed: the TypeScript client's tests need it")
    user_id, key = stack.new_user(credits=20)
    receiver = Receiver([])
    try:
        with stack.client(key) as client:
            hook = client.put("/v1/me/webhook", json={"url": receiver.url}).json()
        photo = tmp_path / "old.jpg"
        photo.write_bytes(photo_bytes(320, 240))
        # The webhook is owed once the TypeScript client's job starts; it is collected after.
        first = _run_node(node, stack, key, photo, None)
        body, signature = _webhook_delivery(stack, user_id, receiver)
        delivery = tmp_path / "delivery.json"
        delivery.write_text(
            json.dumps(
                {
                    "body_b64": base64.b64encode(body).decode(),
                    "header": signature,
                    "secret": hook["secret"],
                }
            )
        )
        second = _run_node(node, stack, key, photo, delivery)
    finally:
        receiver.close()
    # Without the delivery, its one test is skipped; with it, all five run.
    assert "# pass 4" in first, first
    assert "# pass 5" in second, second


def _run_node(node: str, stack: Stack, key: str, photo: Path, delivery: Path | None) -> str:
    env = {
        "PATH": str(Path(node).parent),
        "HEIRLOOM_API_URL": stack.api_url,
        "HEIRLOOM_API_KEY": key,
        "HEIRLOOM_PHOTO": str(photo),
    }
    if delivery is not None:
        env["HEIRLOOM_WEBHOOK_DELIVERY"] = str(delivery)
    ran = subprocess.run(
        [node, "--test", "test/"],
        cwd=CLIENTS / "typescript",
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S * 2,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout[-6000:] + ran.stderr[-2000:]
    return ran.stdout
