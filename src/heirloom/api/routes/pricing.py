"""/v1/pricing: public prices, the cancel rule and the tier table, straight from settings, and
the packs on sale (domain/packs.py)."""

from __future__ import annotations

from fastapi import APIRouter

from heirloom.api.deps import ServicesDep
from heirloom.api.schemas import PackOut, PricingOut, TierOut

router = APIRouter(prefix="/v1/pricing", tags=["pricing"])


@router.get("", response_model=PricingOut)
def pricing(services: ServicesDep) -> PricingOut:
    settings = services.settings
    prices = settings.prices
    return PricingOut(
        prices={
            "restore": prices.restore,
            "colorize": prices.colorize,
            "restore,colorize": prices.restore_colorize,
        },
        cancel_kept_percent=prices.cancel_kept_percent,
        cancel_rule=prices.cancel_rule(),
        tiers=[
            TierOut(tier=tier.value, task_queue=tier.task_queue, **rules.model_dump())
            for tier, rules in settings.tier_rules.items()
        ],
        packs=[PackOut(**pack.model_dump()) for pack in services.purchases.packs],
    )
