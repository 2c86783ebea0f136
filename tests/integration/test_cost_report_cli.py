"""`heirloom report costs`: a month by day as a table or CSV, from the configured database."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from heirloom import cli
from heirloom.config import Settings
from heirloom.db.models import utcnow
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.money.credits import NewJob
from heirloom.services.runpod.runs import AttemptRecord
from heirloom.services.storage.keys import job_key


@pytest.fixture
def configured(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Services]:
    monkeypatch.setenv("HEIRLOOM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HEIRLOOM_DATABASE_URL", database_url)
    services = Services.build(Settings(home=tmp_path / "home", database_url=database_url))
    yield services
    services.close()


def charged_job_with_attempts(services: Services, *execution_ms: int) -> str:
    user = services.accounts.create(
        email=f"{uuid.uuid4().hex[:10]}@example.com", tier=Tier.PAID, credits=10
    ).user
    job_id = uuid.uuid4().hex
    services.credits.reserve(
        NewJob(
            job_id=job_id,
            user_id=user.id,
            operations="restore",
            tier=Tier.PAID,
            original_key=job_key(user.id, job_id, "original", "jpg"),
        )
    )
    for n, ms in enumerate(execution_ms, start=1):
        services.model_runs.record_attempt(
            AttemptRecord(job_id, n, n - 1, f"runpod-{job_id}-{n}", "FAILED", ms, 10)
        )
    return job_id


def test_report_costs_prints_the_month_by_day_with_a_total(
    configured: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    services = configured
    charged_job_with_attempts(services, 1500, 2500)
    charged_job_with_attempts(services, 1000)
    month = utcnow().strftime("%Y-%m")

    assert cli.main(["report", "costs", "--month", month, "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    price = services.settings.gpu_price_per_s_usd
    total = rows[-1]
    assert total["period"] == "total"
    assert int(total["jobs"]) == 2
    assert int(total["attempts"]) == 3
    assert float(total["gpu_seconds"]) == pytest.approx(5.0)
    assert float(total["cost_usd"]) == pytest.approx(5.0 * price, abs=1e-6)
    assert len(rows) - 1 in (28, 29, 30, 31)
    assert sum(int(r["jobs"]) for r in rows[:-1]) == 2

    assert cli.main(["report", "costs", "--month", month]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["period", "jobs", "completed"]
    assert table[-2].split()[:2] == ["total", "2"]
    assert table[-1].startswith(f"forecast {month}: cost ")

    assert cli.main(["report", "costs", "--month", "November"]) == 2
