"""Customers and meters through metered.client against a live server: CRUD, typed answers,
pagination and auto-paging in both directions."""

from __future__ import annotations

from metered.client import Client, Customer, DeletedCustomer, Meter, Page


def test_customer_lifecycle(client: Client) -> None:
    created = client.customers.create(email="ops@acme.ai", name="Acme",
                                      description="first", metadata={"plan": "pro"})
    assert isinstance(created, Customer) and created.id.startswith("cus_")
    assert (created.email, created.name, created.metadata) == ("ops@acme.ai", "Acme",
                                                                {"plan": "pro"})
    assert client.customers.retrieve(created.id) == created

    updated = client.customers.update(created.id, name="Acme AI", metadata={"plan": "",
                                                                            "tier": "2"})
    assert (updated.name, updated.email, updated.metadata) == ("Acme AI", "ops@acme.ai",
                                                               {"tier": "2"})
    deleted = client.customers.delete(created.id)
    assert deleted == DeletedCustomer(id=created.id, deleted=True)


def test_customer_pages_and_auto_paging(client: Client) -> None:
    created = [client.customers.create(name=f"c{i}", email=f"c{i}@x.io") for i in range(5)]
    newest_first = [c.id for c in reversed(created)]

    first = client.customers.list(limit=2)
    assert isinstance(first, Page) and [c.id for c in first] == newest_first[:2]
    assert first.has_more and first.url == "/v1/customers"
    second = first.next_page()
    assert second is not None and [c.id for c in second.data] == newest_first[2:4]

    assert [c.id for c in first.auto_paging_iter()] == newest_first
    assert [c.id for c in client.customers.list_all(page_size=2)] == newest_first
    assert [c.id for c in client.customers.list_all(email="c3@x.io")] == [created[3].id]

    # Backwards from the oldest: each page holds newer customers, oldest first overall.
    before = client.customers.list(limit=2, ending_before=created[0].id)
    assert before.backwards and [c.id for c in before.data] == newest_first[2:4]
    assert [c.id for c in before.auto_paging_iter()] == [c.id for c in created[1:]]

    last = client.customers.list(limit=10)
    assert not last.has_more and last.next_page() is None


def test_meter_lifecycle(client: Client) -> None:
    meter = client.meters.create(display_name="Tokens", event_name="tokens",
                                 formula="sum", customer_key="account", value_key="tokens",
                                 dimensions=["model", "kind"], event_time_window="hour")
    assert isinstance(meter, Meter) and meter.id.startswith("mtr_")
    assert meter.formula == "sum" and meter.status == "active"
    assert meter.customer_mapping.event_payload_key == "account"
    assert meter.value_settings.event_payload_key == "tokens"
    assert meter.dimension_payload_keys == ["model", "kind"]
    assert meter.event_time_window == "hour"
    assert client.meters.retrieve(meter.id) == meter

    renamed = client.meters.update(meter.id, display_name="LLM tokens")
    assert renamed.display_name == "LLM tokens" and renamed.event_name == "tokens"
    off = client.meters.deactivate(meter.id)
    assert off.status == "inactive" and off.status_transitions.deactivated_at is not None
    assert client.meters.reactivate(meter.id).status == "active"


def test_meter_lists(client: Client) -> None:
    meters = [client.meters.create(display_name=f"m{i}", event_name=f"e{i}", formula="count")
              for i in range(3)]
    client.meters.deactivate(meters[1].id)
    assert [m.id for m in client.meters.list_all(page_size=1)] == [m.id for m in
                                                                   reversed(meters)]
    assert [m.id for m in client.meters.list(status="inactive")] == [meters[1].id]
    assert [m.id for m in client.meters.list_all(status="active")] == [meters[2].id,
                                                                       meters[0].id]
