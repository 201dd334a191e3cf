"""Billing objects as typed structs: products, prices, subscriptions, invoices, credits,
alerts, test clocks and credit holds. Amounts are integers in the currency's minor unit;
decimal amounts and quantities are exact `Decimal`s; unknown fields are ignored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import msgspec

from metered.client.models import ListEnvelope

_dict = msgspec.field(default_factory=dict)
_list = msgspec.field(default_factory=list)


class Product(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    name: str = ""
    object: str = "product"
    active: bool = True
    description: str | None = None
    default_price: str | dict[str, Any] | None = None
    unit_label: str | None = None
    metadata: dict[str, str] = _dict
    created: int = 0
    livemode: bool = False
    deleted: bool = False


class PriceTier(msgspec.Struct, kw_only=True, frozen=True):
    up_to: int | None = None
    unit_amount: int | None = None
    unit_amount_decimal: Decimal | None = None
    flat_amount: int | None = None
    flat_amount_decimal: Decimal | None = None


class Recurring(msgspec.Struct, kw_only=True, frozen=True):
    interval: str
    interval_count: int = 1
    usage_type: str = "licensed"
    meter: str | None = None


class TransformQuantity(msgspec.Struct, kw_only=True, frozen=True):
    divide_by: int
    round: str


class Price(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    currency: str
    product: str | dict[str, Any]
    object: str = "price"
    active: bool = True
    type: str = "recurring"
    billing_scheme: str = "per_unit"
    unit_amount: int | None = None
    unit_amount_decimal: Decimal | None = None
    tiers: list[PriceTier] | None = None
    tiers_mode: str | None = None
    transform_quantity: TransformQuantity | None = None
    recurring: Recurring | None = None
    lookup_key: str | None = None
    nickname: str | None = None
    metered: dict[str, Any] | None = None  # dimensional rates, minimum and maximum
    metadata: dict[str, str] = _dict
    created: int = 0
    livemode: bool = False


class SubscriptionItem(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    price: Price
    subscription: str = ""
    object: str = "subscription_item"
    quantity: int | None = None
    current_period_start: int = 0
    current_period_end: int = 0
    metadata: dict[str, str] = _dict
    created: int = 0
    deleted: bool = False


class Subscription(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    customer: str
    status: str
    items: ListEnvelope[SubscriptionItem]
    object: str = "subscription"
    currency: str = ""
    current_period_start: int = 0
    current_period_end: int = 0
    billing_cycle_anchor: int = 0
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    canceled_at: int | None = None
    ended_at: int | None = None
    trial_start: int | None = None
    trial_end: int | None = None
    latest_invoice: str | None = None
    test_clock: str | None = None
    metadata: dict[str, str] = _dict
    created: int = 0
    livemode: bool = False


class Period(msgspec.Struct, kw_only=True, frozen=True):
    start: int
    end: int


class CreditAmount(msgspec.Struct, kw_only=True, frozen=True):
    amount: int
    credit_balance_transaction: str | None = None
    type: str = "credit_balance_transaction"


class InvoiceLine(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    amount: int
    currency: str
    period: Period
    quantity_decimal: Decimal
    object: str = "line_item"
    description: str | None = None
    quantity: int | None = None
    pricing: dict[str, Any] | None = None
    parent: dict[str, Any] | None = None
    pretax_credit_amounts: list[CreditAmount] = _list
    metered: dict[str, Any] = _dict  # kind: usage, licensed, proration, adjustment, ...

    @property
    def kind(self) -> str:
        return str(self.metered.get("kind", ""))


class Invoice(msgspec.Struct, kw_only=True, frozen=True):
    id: str | None  # None for a preview
    status: str
    customer: str
    currency: str
    lines: ListEnvelope[InvoiceLine]
    object: str = "invoice"
    billing_reason: str | None = None
    number: str | None = None
    subtotal: int = 0
    total: int = 0
    amount_due: int = 0
    amount_paid: int = 0
    amount_remaining: int = 0
    period_start: int = 0
    period_end: int = 0
    automatically_finalizes_at: int | None = None
    total_pretax_credit_amounts: list[CreditAmount] = _list
    parent: dict[str, Any] | None = None
    metadata: dict[str, str] = _dict
    created: int = 0
    livemode: bool = False


class Money(msgspec.Struct, kw_only=True, frozen=True):
    currency: str
    value: int


class MonetaryAmount(msgspec.Struct, kw_only=True, frozen=True):
    monetary: Money | None = None
    type: str = "monetary"


class CreditGrant(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    customer: str
    amount: MonetaryAmount
    applicability_config: dict[str, Any]
    object: str = "billing.credit_grant"
    category: str = "paid"
    priority: int | None = None
    name: str | None = None
    effective_at: int | None = None
    expires_at: int | None = None
    voided_at: int | None = None
    test_clock: str | None = None
    metadata: dict[str, str] = _dict
    created: int = 0
    updated: int = 0
    livemode: bool = False


class CreditBalance(msgspec.Struct, kw_only=True, frozen=True):
    available_balance: MonetaryAmount
    ledger_balance: MonetaryAmount


class CreditBalanceSummary(msgspec.Struct, kw_only=True, frozen=True):
    customer: str
    balances: list[CreditBalance]
    object: str = "billing.credit_balance_summary"
    metered: dict[str, Any] = _dict  # held, unbilled_usage, real_time_available per currency
    livemode: bool = False


class CreditBalanceTransaction(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    credit_grant: str
    type: str  # credit or debit
    effective_at: int
    object: str = "billing.credit_balance_transaction"
    credit: dict[str, Any] | None = None
    debit: dict[str, Any] | None = None
    created: int = 0
    livemode: bool = False


class Alert(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    title: str
    status: str
    object: str = "billing.alert"
    alert_type: str = "usage_threshold"
    usage_threshold: dict[str, Any] | None = None
    livemode: bool = False


class TestClock(msgspec.Struct, kw_only=True, frozen=True):
    __test__: ClassVar[bool] = False  # not a pytest class
    id: str
    frozen_time: int = 0
    status: str = "ready"
    object: str = "test_helpers.test_clock"
    name: str | None = None
    created: int = 0
    deletes_after: int = 0
    deleted: bool = False
    livemode: bool = False


class CreditHold(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    customer: str
    amount: int
    currency: str
    status: str  # authorized, captured, released or expired
    expires_at: int
    object: str = "metered.credit_hold"
    captured_amount: int | None = None
    metadata: dict[str, str] = _dict
    created: int = 0
    livemode: bool = False
