"""Services: every long-lived dependency of a process, built once from Settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from heirloom.config import Settings
from heirloom.db.engine import Database
from heirloom.domain.packs import PACKS
from heirloom.services.abuse.detection import AbuseMonitor
from heirloom.services.abuse.rate_limits import RateLimiter
from heirloom.services.accounts.keys import ApiKeys
from heirloom.services.accounts.mail import Mailer
from heirloom.services.accounts.signups import Signups
from heirloom.services.accounts.stream_tokens import StreamTokens
from heirloom.services.accounts.users import Accounts
from heirloom.services.albums.albums import Albums
from heirloom.services.albums.charges import AlbumCharges
from heirloom.services.events.event_log import EventLog
from heirloom.services.events.webhooks import Webhooks
from heirloom.services.imaging import pipeline as imaging
from heirloom.services.jobs.admission import Admission
from heirloom.services.jobs.candidates import CandidateChoice
from heirloom.services.jobs.settlement import Settlement
from heirloom.services.jobs.store import JobStore
from heirloom.services.money.budgets import Budgets
from heirloom.services.money.costs import CostLedger
from heirloom.services.money.credits import CreditManager
from heirloom.services.money.purchases import Purchases
from heirloom.services.money.stripe_api import StripeApi
from heirloom.services.privacy.audit import AuditLog
from heirloom.services.privacy.erasure import Erasure
from heirloom.services.privacy.export import Exporter
from heirloom.services.queue.positions import GpuQueue
from heirloom.services.results.retention import Retention
from heirloom.services.results.shares import Shares
from heirloom.services.runpod.client import RunPodService
from heirloom.services.runpod.runs import ModelRuns
from heirloom.services.storage.backend import make_storage
from heirloom.services.storage.base import Storage


@dataclass
class Services:
    """What activities and routes need, wired to one database and one storage."""

    settings: Settings
    db: Database
    credits: CreditManager
    accounts: Accounts
    jobs: JobStore
    admission: Admission
    storage: Storage
    runpod: RunPodService
    keys: ApiKeys
    limiter: RateLimiter
    abuse: AbuseMonitor
    settlement: Settlement
    events: EventLog
    stream_tokens: StreamTokens
    webhooks: Webhooks
    gpu_queue: GpuQueue
    model_runs: ModelRuns
    retention: Retention
    audit: AuditLog
    shares: Shares
    erasure: Erasure
    exporter: Exporter
    costs: CostLedger
    budgets: Budgets
    purchases: Purchases
    signups: Signups
    candidates: CandidateChoice
    albums: Albums
    album_charges: AlbumCharges
    # The GPU pool's endpoints after the first (whose client is `runpod`), by id.
    other_endpoints: dict[str, RunPodService]

    @classmethod
    def build(cls, settings: Settings, *, pool_size: int = 10) -> Services:
        imaging.limit_decodes(settings.image_decodes_at_once)
        db = Database(settings.resolved_database_url, pool_size=pool_size)
        credits = CreditManager(db, prices=settings.prices, tier_rules=settings.tier_rules)
        jobs = JobStore(db)
        storage = make_storage(settings)
        keys = ApiKeys(
            db,
            max_per_user=settings.max_api_keys_per_user,
            touch_interval_s=settings.api_key_touch_interval_s,
        )
        limiter = RateLimiter.from_settings(settings)
        endpoints = settings.gpu_endpoints
        runpod = RunPodService.from_settings(settings, endpoints[0])
        others = {e.id: RunPodService.from_settings(settings, e) for e in endpoints[1:]}
        retention = Retention(db, storage, settings.tier_rules)
        accounts = Accounts(db, credits, keys)
        stripe_api = StripeApi(
            settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            webhook_secret=settings.stripe_webhook_secret,
            tolerance_s=settings.stripe_webhook_tolerance_s,
        )
        mailer = Mailer(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )
        costs = CostLedger(
            db,
            credit_price_usd=settings.credit_price_usd,
            gpu_price_per_s_usd=settings.gpu_price_per_s_usd,
        )
        budgets = Budgets(
            db,
            costs,
            daily_usd=settings.budget_daily_usd,
            monthly_usd=settings.budget_monthly_usd,
            free_pause_pct=settings.budget_free_pause_pct,
        )
        return cls(
            settings=settings,
            db=db,
            credits=credits,
            accounts=accounts,
            jobs=jobs,
            admission=Admission(db, credits, retention, budgets),
            storage=storage,
            runpod=runpod,
            settlement=Settlement(credits, jobs, storage, runpod, others=others),
            gpu_queue=GpuQueue(
                db,
                pool_size=settings.gpu_pool_size,
                default_model_s=settings.gpu_default_model_s,
            ),
            keys=keys,
            limiter=limiter,
            abuse=AbuseMonitor(db, keys, limiter, settings),
            model_runs=ModelRuns(
                db,
                gpu_price_per_s_usd=settings.gpu_price_per_s_usd,
                endpoint_prices={e.id: e.price_per_s_usd or 0.0 for e in endpoints},
            ),
            retention=retention,
            audit=AuditLog(db),
            shares=Shares(db),
            erasure=Erasure(db, storage),
            exporter=Exporter(db, storage),
            events=EventLog(db),
            stream_tokens=StreamTokens(db, ttl_s=settings.stream_token_ttl_s),
            webhooks=Webhooks(
                db,
                allow_private=settings.webhook_allow_private_targets,
                secret_grace=timedelta(seconds=settings.webhook_secret_grace_s),
                request_timeout_s=settings.webhook_request_timeout_s,
            ),
            costs=costs,
            budgets=budgets,
            purchases=Purchases(db, stripe_api, retention, packs=PACKS),
            signups=Signups(
                db,
                accounts,
                credits,
                mailer,
                link_ttl_s=settings.signup_link_ttl_s,
                starting_credits=settings.signup_credits,
            ),
            candidates=CandidateChoice(db),
            albums=Albums(db, storage),
            album_charges=AlbumCharges(db, credits, settings.prices, settings.tier_rules),
            other_endpoints=others,
        )

    def runpod_for(self, endpoint: str | None) -> RunPodService:
        """The client of a GPU pool endpoint; None (rows from before the pool) is the first."""
        if endpoint is None or endpoint == self.settings.gpu_endpoints[0].id:
            return self.runpod
        return self.other_endpoints.get(endpoint, self.runpod)

    def close(self) -> None:
        self.runpod.close()
        for service in self.other_endpoints.values():
            service.close()
        self.db.dispose()
