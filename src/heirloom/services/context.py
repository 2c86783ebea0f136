"""Services: every long-lived dependency of a process, built once from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from heirloom.config import Settings
from heirloom.db.engine import Database
from heirloom.services.accounts import Accounts
from heirloom.services.budgets import Budgets
from heirloom.services.costs import CostLedger
from heirloom.services.credits import CreditManager
from heirloom.services.jobs import JobStore
from heirloom.services.model_runs import ModelRuns
from heirloom.services.runpod_client import RunPodService
from heirloom.services.settlement import Settlement
from heirloom.services.storage import Storage, make_storage


@dataclass
class Services:
    """What activities and routes need, wired to one database and one storage."""

    settings: Settings
    db: Database
    credits: CreditManager
    accounts: Accounts
    jobs: JobStore
    storage: Storage
    runpod: RunPodService
    settlement: Settlement
    model_runs: ModelRuns
    costs: CostLedger
    budgets: Budgets

    @classmethod
    def build(cls, settings: Settings, *, pool_size: int = 10) -> Services:
        db = Database(settings.resolved_database_url, pool_size=pool_size)
        credits = CreditManager(db, prices=settings.prices, tier_rules=settings.tier_rules)
        jobs = JobStore(db)
        storage = make_storage(settings)
        runpod = RunPodService.from_settings(settings)
        costs = CostLedger(
            db,
            credit_price_usd=settings.credit_price_usd,
            gpu_price_per_s_usd=settings.gpu_price_per_s_usd,
        )
        return cls(
            settings=settings,
            db=db,
            credits=credits,
            accounts=Accounts(db, credits),
            jobs=jobs,
            storage=storage,
            runpod=runpod,
            settlement=Settlement(credits, jobs, storage, runpod),
            model_runs=ModelRuns(db, gpu_price_per_s_usd=settings.gpu_price_per_s_usd),
            costs=costs,
            budgets=Budgets(
                db,
                costs,
                daily_usd=settings.budget_daily_usd,
                monthly_usd=settings.budget_monthly_usd,
                free_pause_pct=settings.budget_free_pause_pct,
            ),
        )

    def close(self) -> None:
        self.db.dispose()
