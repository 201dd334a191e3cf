"""Billing credits through the official stripe SDK: grants, burn-down at finalization in
Stripe's order, the ledger, balance summaries, expiry, voids, and credits given back when an
invoice is voided."""

from __future__ import annotations

import pytest
import stripe
from test_stripe_billing import FEB_1, START, setup_metered
from test_stripe_sdk import sdk

from conftest import Server

HOUR = 3600


@pytest.fixture
def client(server: Server) -> stripe.StripeClient:
    return sdk(server, server.new_account_key())


def grant(client: stripe.StripeClient, customer: str, value: int, **extra: object
          ) -> stripe.billing.CreditGrant:
    return client.v1.billing.credit_grants.create({
        "customer": customer, "amount": {"type": "monetary",
                                         "monetary": {"currency": "usd", "value": value}},
        "applicability_config": {"scope": {"price_type": "metered"}}, **extra})  # type: ignore


def balance(client: stripe.StripeClient, customer: str) -> tuple[int, int]:
    summary = client.v1.billing.credit_balance_summary.retrieve({
        "customer": customer,
        "filter": {"type": "applicability_scope",
                   "applicability_scope": {"price_type": "metered"}}})
    entry = summary.balances[0]
    return entry.ledger_balance.monetary.value, entry.available_balance.monetary.value  # type: ignore


def test_credits_burn_down_in_order_and_come_back_on_void(client: stripe.StripeClient) -> None:
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": START})
    customer, tokens, seats = setup_metered(client, clock.id)
    client.v1.subscriptions.create({"customer": customer.id,
                                    "items": [{"price": tokens.id}, {"price": seats.id}]})
    paid = grant(client, customer.id, 500, category="paid", name="paid")
    promo = grant(client, customer.id, 300, category="promotional", name="promo",
                  expires_at=FEB_1 + 10 * 24 * HOUR)
    first = grant(client, customer.id, 100, priority=10, name="first")
    late = grant(client, customer.id, 1000, effective_at=FEB_1 + 20 * 24 * HOUR)
    assert balance(client, customer.id) == (900, 900)

    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": START + HOUR})
    client.v1.billing.meter_events.create({
        "event_name": "tokens", "payload": {"stripe_customer_id": customer.id, "value": "16000"}})
    summary = client.v1.billing.credit_balance_summary.retrieve({
        "customer": customer.id, "filter": {"type": "credit_grant", "credit_grant": first.id}})
    assert summary.balances[0].ledger_balance.monetary.value == 100  # type: ignore[union-attr]
    preview = client.v1.invoices.create_preview({"customer": customer.id})
    # Seats (licensed: no credits) 2000, tokens 16000 x 0.05 = 800, of which credits pay 800.
    assert (preview.subtotal, preview.total) == (2800, 2000)

    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": FEB_1 + 2 * HOUR})
    invoice = client.v1.invoices.list({"customer": customer.id}).data[0]
    assert (invoice.status, invoice.subtotal, invoice.total, invoice.amount_due) == (
        "open", 2800, 2000, 2000)
    usage_line = next(line for line in invoice.lines.data if line.amount == 800)
    # Priority 10 first (100), then the one expiring soonest (promo 300), then paid (400).
    assert [c.amount for c in usage_line.pretax_credit_amounts] == [100, 300, 400]  # type: ignore
    assert balance(client, customer.id) == (100, 100)
    txns = client.v1.billing.credit_balance_transactions.list({"customer": customer.id}).data
    applied = [t for t in txns if t.type == "debit"]
    assert sorted(t.debit.amount.monetary.value for t in applied) == [100, 300, 400]  # type: ignore
    assert {t.credit_grant for t in applied} == {first.id, promo.id, paid.id}
    one = client.v1.billing.credit_balance_transactions.retrieve(applied[0].id)
    assert one.debit.credits_applied.invoice == invoice.id  # type: ignore[union-attr]

    client.v1.invoices.void_invoice(invoice.id)
    assert balance(client, customer.id) == (900, 900)
    # The promotional grant expires (what is left of it goes), the late one becomes usable.
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": FEB_1 + 21 * 24 * HOUR})
    assert balance(client, customer.id) == (1600, 1600)
    assert client.v1.billing.credit_grants.retrieve(late.id).effective_at == FEB_1 + 20 * 86400
    kinds = {t.debit.type for t in client.v1.billing.credit_balance_transactions.list(  # type: ignore
        {"customer": customer.id, "credit_grant": promo.id}).data if t.debit}
    assert "credits_expired" in kinds
    voided = client.v1.billing.credit_grants.void_grant(paid.id)
    assert voided.voided_at is not None
    assert balance(client, customer.id) == (1100, 1100)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.billing.credit_grants.expire(paid.id)


def test_credit_grant_api_and_errors(client: stripe.StripeClient, server: Server) -> None:
    customer, tokens, seats = setup_metered(client)
    scoped = client.v1.billing.credit_grants.create({
        "customer": customer.id, "category": "promotional", "priority": 0,
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 250}},
        "applicability_config": {"scope": {"prices": [{"id": tokens.id}]}},
        "metadata": {"campaign": "launch"}})
    assert scoped.applicability_config.scope.prices[0].id == tokens.id  # type: ignore
    assert client.v1.billing.credit_grants.retrieve(scoped.id).metadata["campaign"] == "launch"
    updated = client.v1.billing.credit_grants.update(scoped.id, {"expires_at": 4_000_000_000})
    assert updated.expires_at == 4_000_000_000
    listed = client.v1.billing.credit_grants.list({"customer": customer.id})
    assert [g.id for g in listed.data] == [scoped.id]
    expired = client.v1.billing.credit_grants.expire(scoped.id)
    assert expired.expires_at is not None
    summary = client.v1.billing.credit_balance_summary.retrieve({
        "customer": customer.id, "filter": {"type": "credit_grant", "credit_grant": scoped.id}})
    assert summary.balances[0].ledger_balance.monetary.value == 0  # type: ignore[union-attr]
    # A price-scoped grant is not among the grants for every metered price.
    assert client.v1.billing.credit_balance_summary.retrieve({
        "customer": customer.id, "filter": {"type": "applicability_scope",
                                            "applicability_scope": {"price_type": "metered"}},
    }).balances == []

    with pytest.raises(stripe.InvalidRequestError) as licensed:
        client.v1.billing.credit_grants.create({
            "customer": customer.id,
            "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 5}},
            "applicability_config": {"scope": {"prices": [{"id": seats.id}]}}})
    assert licensed.value.param == "applicability_config[scope][prices][0][id]"
    with pytest.raises(stripe.InvalidRequestError) as negative:
        grant(client, customer.id, -5)
    assert negative.value.param == "amount[monetary][value]"
    other = sdk(server, server.new_account_key())
    with pytest.raises(stripe.InvalidRequestError):
        other.v1.billing.credit_grants.retrieve(scoped.id)
    with pytest.raises(stripe.InvalidRequestError):
        grant(other, customer.id, 5)
