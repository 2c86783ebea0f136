"""Configuration as one documented table: every setting is described and classified."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from heirloom.config import Audience, FaultSettings, QwenSettings, Section, Settings
from heirloom.domain.pricing import Prices
from heirloom.domain.tiers import TierRules

CONFIG_MODELS: tuple[type[BaseModel], ...] = (Settings, FaultSettings, QwenSettings)
# The domain's models know nothing of configuration: the field holding them gives the audience.
DOMAIN_MODELS: tuple[type[BaseModel], ...] = (Prices, TierRules)


def _extra(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return dict(extra) if isinstance(extra, dict) else {}


def _fields(*models: type[BaseModel]) -> Iterator[tuple[str, FieldInfo]]:
    for model in models:
        for name, field in model.model_fields.items():
            yield f"{model.__name__}.{name}", field


# --- every setting documented ----------------------------------------------------------------


def test_every_setting_has_a_description_and_says_who_sets_it() -> None:
    audiences = typing.get_args(Audience)
    undocumented = [
        name
        for name, field in _fields(*CONFIG_MODELS, *DOMAIN_MODELS)
        if not (field.description or "").strip()
    ]
    unclassified = [
        name
        for name, field in _fields(*CONFIG_MODELS)
        if _extra(field).get("audience") not in audiences
    ]
    assert undocumented == [], "give these fields a Field(description=...)"
    assert unclassified == [], "give these fields json_schema_extra=about(<audience>, ...)"


def test_every_setting_belongs_to_a_section_in_the_order_of_the_reference() -> None:
    order = typing.get_args(Section)
    sections = [_extra(field).get("section") for field in Settings.model_fields.values()]
    assert all(section in order for section in sections), "about(<audience>, <section>)"
    positions = [order.index(section) for section in sections]
    assert positions == sorted(positions), "declare Settings' fields section by section"
