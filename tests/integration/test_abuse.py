"""Abuse detection over real HTTP: each signal fires, is listed to admins, and with
auto-suspension on, the key answers 401 afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from heirloom.domain.tiers import Tier
from tests.conftest import ServedApi
from tests.support import completed_job

ServeApi = Callable[..., ServedApi]


def _signals(api: ServedApi) -> list[dict[str, Any]]:
    with api.client(api.admin_key) as admin:
        answer = admin.get("/v1/admin/abuse")
    assert answer.status_code == 200, answer.text
    signals: list[dict[str, Any]] = answer.json()["signals"]
    return signals


def test_probing_job_ids_is_detected_and_suspends_the_key(serve_api: ServeApi) -> None:
    api = serve_api(abuse_not_found_probe="3/hour", abuse_auto_suspend=True)
    user_id, key = api.new_user()
    with api.client(key) as client:
        probes = [client.get(f"/v1/jobs/{uuid.uuid4().hex}") for _ in range(4)]
        assert [p.status_code for p in probes] == [404] * 4
        assert client.get("/v1/me").status_code == 401
    [signal] = _signals(api)
    assert signal["kind"] == "job_id_probing"
    assert (signal["user_id"], signal["suspended"], signal["observed"]) == (user_id, True, 4)
    [key_info] = api.services.keys.owned_by(user_id)
    assert (key_info.id, key_info.revoked_reason) == (
        signal["key_id"],
        "suspended: job_id_probing",
    )


def test_probing_without_auto_suspension_is_recorded_once_and_the_key_works(
    serve_api: ServeApi,
) -> None:
    api = serve_api(abuse_not_found_probe="3/hour")
    _, key = api.new_user()
    with api.client(key) as client:
        for _ in range(6):
            client.get(f"/v1/jobs/{uuid.uuid4().hex}/result")
        assert client.get("/v1/me").status_code == 200
    assert [(s["kind"], s["suspended"]) for s in _signals(api)] == [("job_id_probing", False)]


def test_many_failed_authentications_from_one_address_are_detected(serve_api: ServeApi) -> None:
    api = serve_api(abuse_auth_failures="5/hour")
    with api.client("hl_guess", address="127.0.0.3") as guesser:
        assert {guesser.get("/v1/jobs").status_code for _ in range(6)} == {401}
    [signal] = _signals(api)
    assert (signal["kind"], signal["address"], signal["key_id"]) == (
        "auth_failures",
        "127.0.0.3",
        None,
    )


def test_one_key_from_many_addresses_is_detected_and_suspended(serve_api: ServeApi) -> None:
    api = serve_api(abuse_key_addresses="3/hour", abuse_auto_suspend=True)
    _, key = api.new_user()
    for n in range(2, 5):  # three addresses: within the budget, repeats do not count
        with api.client(key, address=f"127.0.0.{n}") as client:
            assert client.get("/v1/me").status_code == 200
            assert client.get("/v1/me").status_code == 200
    assert _signals(api) == []
    with api.client(key, address="127.0.0.5") as fourth:
        fourth.get("/v1/me")
        assert fourth.get("/v1/me").status_code == 401
    [signal] = _signals(api)
    assert (signal["kind"], signal["address"], signal["suspended"]) == (
        "key_many_addresses",
        "127.0.0.5",
        True,
    )


def test_download_volume_far_above_the_usual_is_detected_and_suspended(
    serve_api: ServeApi,
) -> None:
    api = serve_api(abuse_download_floor_bytes=25_000, abuse_auto_suspend=True)
    user_id, key = api.new_user(tier=Tier.PAID)
    job_id = completed_job(api.services, user_id, size=10_000)
    with api.client(key) as client:
        sizes = [len(client.get(f"/v1/jobs/{job_id}/result").content) for _ in range(2)]
        assert sizes == [10_000, 10_000]  # 20 kB: under the floor
        assert _signals(api) == []
        assert client.get(f"/v1/jobs/{job_id}/result").status_code == 200  # 30 kB
        assert client.get(f"/v1/jobs/{job_id}").status_code == 401
    [signal] = _signals(api)
    assert (signal["kind"], signal["observed"], signal["suspended"]) == (
        "download_volume",
        30_000,
        True,
    )


def test_the_usual_volume_is_the_keys_own_hourly_average(serve_api: ServeApi) -> None:
    api = serve_api(abuse_download_floor_bytes=6_000, abuse_download_factor=10)
    monitor = api.services.abuse
    now = 1_800_000_000.0
    hour = 3600
    # A day of 5 kB an hour: the usual is 5 kB, so up to 50 kB an hour is not a signal.
    for back in range(1, 25):
        assert monitor.downloaded("k1", "u1", "203.0.113.9", 5_000, now=now - back * hour) is None
    assert monitor.downloaded("k1", "u1", "203.0.113.9", 50_000, now=now) is None
    signal = monitor.downloaded("k1", "u1", "203.0.113.9", 1, now=now)
    assert signal is not None
    assert (signal.kind, signal.observed, signal.threshold) == (
        "download_volume",
        50_001,
        "50000 bytes/hour",
    )
    # Another key with no history is measured against the floor alone.
    assert monitor.downloaded("k2", "u2", "203.0.113.9", 6_000, now=now) is None
    assert monitor.downloaded("k2", "u2", "203.0.113.9", 1, now=now) is not None


def test_abuse_signals_are_for_admins_only(serve_api: ServeApi) -> None:
    api = serve_api()
    _, key = api.new_user()
    with api.client(key) as client:
        assert client.get("/v1/admin/abuse").status_code == 403
