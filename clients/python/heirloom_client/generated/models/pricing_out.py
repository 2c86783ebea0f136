from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.pack_out import PackOut
    from ..models.pricing_out_prices import PricingOutPrices
    from ..models.tier_out import TierOut


T = TypeVar("T", bound="PricingOut")


@_attrs_define
class PricingOut:
    """
    Attributes:
        cancel_kept_percent (int): Percent of the price kept (rounded up) when a job is cancelled after its model
            started; before that a cancel refunds in full.
        cancel_rule (str): The cancel rule in words.
        prices (PricingOutPrices):
        tiers (list[TierOut]):
        currency (str | Unset):  Default: 'credits'.
        packs (list[PackOut] | Unset): What can be bought through POST /v1/checkout.
    """

    cancel_kept_percent: int
    cancel_rule: str
    prices: PricingOutPrices
    tiers: list[TierOut]
    currency: str | Unset = "credits"
    packs: list[PackOut] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        cancel_kept_percent = self.cancel_kept_percent

        cancel_rule = self.cancel_rule

        prices = self.prices.to_dict()

        tiers = []
        for tiers_item_data in self.tiers:
            tiers_item = tiers_item_data.to_dict()
            tiers.append(tiers_item)

        currency = self.currency

        packs: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.packs, Unset):
            packs = []
            for packs_item_data in self.packs:
                packs_item = packs_item_data.to_dict()
                packs.append(packs_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "cancel_kept_percent": cancel_kept_percent,
                "cancel_rule": cancel_rule,
                "prices": prices,
                "tiers": tiers,
            }
        )
        if currency is not UNSET:
            field_dict["currency"] = currency
        if packs is not UNSET:
            field_dict["packs"] = packs

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.pack_out import PackOut
        from ..models.pricing_out_prices import PricingOutPrices
        from ..models.tier_out import TierOut

        d = dict(src_dict)
        cancel_kept_percent = d.pop("cancel_kept_percent")

        cancel_rule = d.pop("cancel_rule")

        prices = PricingOutPrices.from_dict(d.pop("prices"))

        tiers = []
        _tiers = d.pop("tiers")
        for tiers_item_data in _tiers:
            tiers_item = TierOut.from_dict(tiers_item_data)

            tiers.append(tiers_item)

        currency = d.pop("currency", UNSET)

        _packs = d.pop("packs", UNSET)
        packs: list[PackOut] | Unset = UNSET
        if _packs is not UNSET:
            packs = []
            for packs_item_data in _packs:
                packs_item = PackOut.from_dict(packs_item_data)

                packs.append(packs_item)

        pricing_out = cls(
            cancel_kept_percent=cancel_kept_percent,
            cancel_rule=cancel_rule,
            prices=prices,
            tiers=tiers,
            currency=currency,
            packs=packs,
        )

        pricing_out.additional_properties = d
        return pricing_out

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
