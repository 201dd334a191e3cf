"""AsyncClient: the same resources with awaitable calls, pages walked with `async for`, the
background sender flushed with await, and the synchronous client's errors."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from metered.client import AsyncClient, InvalidRequestError

from conftest import Server

JAN_1 = 1_767_225_600


def test_async_client_end_to_end(server: Server, account_key: str) -> None:
    async def scenario() -> None:
        async with AsyncClient(api_key=account_key, base_url=server.base_url) as client:
            created = await asyncio.gather(*(client.customers.create(name=f"c{i}")
                                             for i in range(12)))
            page = await client.customers.list(limit=5)
            assert len(page) == 5 and page.has_more
            seen = [c.id async for c in page]
            assert sorted(seen) == sorted(c.id for c in created)
            assert len([c async for c in client.customers.list_all()]) == 12

            clock = await client.test_clocks.create(frozen_time=JAN_1)
            customer = await client.customers.create(name="clocked", test_clock=clock.id)
            meter = await client.meters.create(display_name="T", event_name="async_tokens")
            price = await client.prices.create(
                currency="usd", unit_amount_decimal="0.5", product_data={"name": "T"},
                recurring={"interval": "month", "usage_type": "metered", "meter": meter.id})
            sub = await client.subscriptions.create(customer=customer.id,
                                                    items=[{"price": price.id}])
            for _ in range(30):  # queued at once, without blocking the loop
                client.events.send("async_tokens", {"stripe_customer_id": customer.id,
                                                    "value": 3})
            await client.events.flush()
            preview = await client.invoices.create_preview(subscription=sub.id)
            assert preview.lines.data[0].quantity_decimal == Decimal(90)
            assert preview.total == 45
            summary = await client.credit_balances.summary(customer.id)
            assert summary.balances == []
            with pytest.raises(InvalidRequestError) as missing:
                await client.customers.retrieve("cus_nope")
            assert missing.value.status == 404

    asyncio.run(scenario())
