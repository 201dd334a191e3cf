"""/v1/products and /v1/prices against a live server: the official stripe SDK for what it can
send, raw HTTP for the native `metered[...]` fields and for malformed input (each refusal is a
4xx in Stripe's error format naming the offending param), isolation between accounts and modes,
and `Price.terms` (what metered.pricing rates with) read back from the store.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from metered.accounts import Caller
from metered.billing import prices, products
from metered.billing.price_specs import PriceSpec, PriceTier, RecurringSpec
from metered.errors import NotFoundError
from metered.metering.meters import MeterSpec, create_meter
from metered.pricing.models import DimensionalRate, PriceTerms, Tier, TransformQuantity
from metered.store.database import Database, connect

from conftest import Server

PRODUCT_FIELDS = {
    "id", "object", "active", "created", "default_price", "description", "images", "livemode",
    "marketing_features", "metadata", "name", "package_dimensions", "shippable",
    "statement_descriptor", "tax_code", "type", "unit_label", "updated", "url",
}
PRICE_FIELDS = {
    "id", "object", "active", "billing_scheme", "created", "currency", "custom_unit_amount",
    "livemode", "lookup_key", "metadata", "nickname", "product", "recurring", "tax_behavior",
    "tiers", "tiers_mode", "transform_quantity", "type", "unit_amount", "unit_amount_decimal",
    "metered",
}


def sdk(server: Server, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": server.base_url},
                               max_network_retries=0)


@pytest.fixture
def key(server: Server) -> str:
    """A brand-new account's test key: nothing else lives there."""
    return server.new_account_key()


@pytest.fixture
def client(server: Server, key: str) -> stripe.StripeClient:
    return sdk(server, key)


@pytest.fixture
def http(server: Server, key: str) -> Iterator[httpx.Client]:
    with server.client(key) as http_client:
        yield http_client


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


def refused(response: httpx.Response) -> tuple[int, str | None, str | None]:
    """(status, param, code) of a refusal in Stripe's error format."""
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"], error
    return response.status_code, error.get("param"), error.get("code")


def meter(http: httpx.Client, *dimensions: str) -> str:
    data = {"display_name": "Tokens", "event_name": f"tokens_{uuid.uuid4().hex[:8]}",
            "default_aggregation[formula]": "sum"}
    data.update({f"dimension_payload_keys[{i}]": d for i, d in enumerate(dimensions)})
    return str(ok(http.post("/v1/billing/meters", data=data))["id"])


# --- products ---------------------------------------------------------------------------------

def test_product_crud_through_the_sdk(client: stripe.StripeClient) -> None:
    product = client.v1.products.create({
        "name": "API calls", "description": "Metered API", "unit_label": "call",
        "metadata": {"tier": "gold", "empty": ""},
    })
    wire = product.to_dict()
    assert set(wire) == PRODUCT_FIELDS
    assert product.id.startswith("prod_") and product.object == "product"
    assert (product.name, product.description, product.unit_label, product.active) == (
        "API calls", "Metered API", "call", True)
    assert (product.type, product.images, product.marketing_features, product.livemode) == (
        "service", [], [], False)
    assert product.default_price is None and product.url is None
    assert product.metadata.to_dict() == {"tier": "gold"}
    assert client.v1.products.retrieve(product.id).to_dict() == wire

    updated = client.v1.products.update(product.id, {
        "name": "Calls", "description": "", "active": False,
        "metadata": {"tier": "", "region": "eu"},
    })
    assert (updated.name, updated.description, updated.active, updated.unit_label) == (
        "Calls", None, False, "call")
    assert updated.metadata.to_dict() == {"region": "eu"}

    other = client.v1.products.create({"name": "Seats"})
    assert [p.id for p in client.v1.products.list().data] == [other.id, product.id]
    assert [p.id for p in client.v1.products.list({"active": True}).data] == [other.id]
    assert [p.id for p in client.v1.products.list({"active": False}).data] == [product.id]
    assert [p.id for p in client.v1.products.list({"ids": [product.id, "prod_nope"]}).data] == [
        product.id]

    deleted = client.v1.products.delete(other.id)
    assert deleted.to_dict() == {"id": other.id, "object": "product", "deleted": True}
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.products.retrieve(other.id)
    assert info.value.http_status == 404 and info.value.code == "resource_missing"
    assert [p.id for p in client.v1.products.list().data] == [product.id]


def test_the_legacy_global_interface(server: Server, key: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe, "api_base", server.base_url)
    monkeypatch.setattr(stripe, "api_key", key)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    product = stripe.Product.create(name="Legacy")
    price = stripe.Price.create(product=product.id, currency="usd", unit_amount=250,
                                recurring={"interval": "month"})
    assert stripe.Price.retrieve(price.id).unit_amount == 250
    assert stripe.Product.retrieve(product.id).name == "Legacy"
    assert [p.id for p in stripe.Price.list(product=product.id).data] == [price.id]


def test_custom_product_id_and_default_price_data(client: stripe.StripeClient) -> None:
    custom_id = f"gold-plan-{uuid.uuid4().hex[:8]}"
    product = client.v1.products.create({
        "id": custom_id, "name": "Gold",
        "default_price_data": {"currency": "EUR", "unit_amount_decimal": "1999.5",
                               "recurring": {"interval": "month", "interval_count": 3}},
    })
    assert product.id == custom_id
    price = client.v1.prices.retrieve(product.default_price)
    assert (price.product, price.currency, price.type) == (custom_id, "eur", "recurring")
    assert (price.unit_amount, price.unit_amount_decimal) == (None, Decimal("1999.5"))
    assert price.recurring.to_dict() == {
        "aggregate_usage": None, "interval": "month", "interval_count": 3, "meter": None,
        "trial_period_days": None, "usage_type": "licensed"}

    expanded = client.v1.products.retrieve(product.id, {"expand": ["default_price"]})
    assert expanded.default_price.to_dict() == price.to_dict()
    listed = client.v1.products.list({"expand": ["data.default_price"]}).data
    assert listed[0].default_price.id == price.id

    # The default price can't be archived; another price can take its place first.
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.prices.update(price.id, {"active": False})
    assert info.value.param == "active"
    second = client.v1.prices.create({"product": product.id, "currency": "eur",
                                      "unit_amount": 500})
    assert client.v1.products.update(product.id, {"default_price": second.id}).default_price == (
        second.id)
    assert client.v1.prices.update(price.id, {"active": False}).active is False
    with pytest.raises(stripe.InvalidRequestError) as info:  # an archived price can't be default
        client.v1.products.update(product.id, {"default_price": price.id})
    assert info.value.param == "default_price"

    # A product with prices can only be archived.
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.products.delete(product.id)
    assert info.value.http_status == 400 and "prices" in str(info.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.products.create({"id": custom_id, "name": "Again"})
    assert (info.value.param, info.value.code) == ("id", "resource_already_exists")


# --- prices -----------------------------------------------------------------------------------

def test_per_unit_prices_and_their_wire_shape(client: stripe.StripeClient) -> None:
    product = client.v1.products.create({"name": "Storage"})
    whole = client.v1.prices.create({
        "product": product.id, "currency": "usd", "unit_amount": 1000, "nickname": "base",
        "metadata": {"a": "1"},
    })
    wire = whole.to_dict()
    assert set(wire) == PRICE_FIELDS
    assert whole.id.startswith("price_") and whole.object == "price"
    assert (whole.unit_amount, whole.unit_amount_decimal) == (1000, Decimal("1000"))
    assert (whole.type, whole.billing_scheme, whole.tiers, whole.tiers_mode) == (
        "one_time", "per_unit", None, None)
    assert (whole.recurring, whole.transform_quantity, whole.custom_unit_amount) == (
        None, None, None)
    assert (whole.tax_behavior, whole.metered, whole.active, whole.nickname) == (
        "unspecified", None, True, "base")
    assert client.v1.prices.retrieve(whole.id).to_dict() == wire

    fraction = client.v1.prices.create({
        "product": product.id, "currency": "usd", "unit_amount_decimal": "0.002500",
    })
    assert (fraction.unit_amount, fraction.unit_amount_decimal) == (None, Decimal("0.0025"))
    tiny = client.v1.prices.create({
        "product": product.id, "currency": "usd", "unit_amount_decimal": "0.000000000001",
    })
    assert tiny.unit_amount_decimal == Decimal("1E-12")
    assert tiny.last_response.body.count('"unit_amount_decimal":"0.000000000001"') == 1

    expanded = client.v1.prices.retrieve(whole.id, {"expand": ["product"]})
    assert expanded.product.to_dict() == client.v1.products.retrieve(product.id).to_dict()

    updated = client.v1.prices.update(whole.id, {
        "nickname": "", "active": False, "metadata": {"a": "", "b": "2"}})
    assert (updated.nickname, updated.active, updated.metadata.to_dict()) == (
        None, False, {"b": "2"})
    assert updated.unit_amount == 1000


def test_product_data_creates_the_product(client: stripe.StripeClient) -> None:
    price = client.v1.prices.create({
        "currency": "usd", "unit_amount": 5,
        "product_data": {"name": "Inline", "unit_label": "seat", "metadata": {"k": "v"}},
    })
    product = client.v1.products.retrieve(price.product)
    assert (product.name, product.unit_label, product.metadata.to_dict()) == (
        "Inline", "seat", {"k": "v"})


def test_tiered_prices(client: stripe.StripeClient) -> None:
    product = client.v1.products.create({"name": "Tiers"})
    graduated = client.v1.prices.create({
        "product": product.id, "currency": "usd", "billing_scheme": "tiered",
        "tiers_mode": "graduated", "recurring": {"interval": "month"},
        "tiers": [
            {"up_to": 1000, "unit_amount": 0, "flat_amount": 500},
            {"up_to": 10000, "unit_amount_decimal": "0.5"},
            {"up_to": "inf", "flat_amount_decimal": "100"},
        ],
    })
    assert (graduated.billing_scheme, graduated.tiers_mode) == ("tiered", "graduated")
    assert (graduated.unit_amount, graduated.unit_amount_decimal) == (None, None)
    assert [t.to_dict() for t in graduated.tiers] == [
        {"flat_amount": 500, "flat_amount_decimal": Decimal("500"), "unit_amount": 0,
         "unit_amount_decimal": Decimal("0"), "up_to": 1000},
        {"flat_amount": None, "flat_amount_decimal": None, "unit_amount": None,
         "unit_amount_decimal": Decimal("0.5"), "up_to": 10000},
        {"flat_amount": 100, "flat_amount_decimal": Decimal("100"), "unit_amount": None,
         "unit_amount_decimal": None, "up_to": None},
    ]
    retrieved = client.v1.prices.retrieve(graduated.id, {"expand": ["tiers"]})
    assert retrieved.to_dict() == graduated.to_dict()

    volume = client.v1.prices.create({
        "product": product.id, "currency": "usd", "billing_scheme": "tiered",
        "tiers_mode": "volume", "tiers": [{"up_to": "inf", "unit_amount": 7}],
    })
    assert volume.tiers_mode == "volume" and volume.tiers[0].up_to is None


def test_tiers_as_a_json_object_keyed_by_index(http: httpx.Client) -> None:
    product = ok(http.post("/v1/products", data={"name": "JSON"}))["id"]
    price = ok(http.post("/v1/prices", json={
        "product": product, "currency": "usd", "billing_scheme": "tiered",
        "tiers_mode": "volume",
        "tiers": {"1": {"up_to": "inf", "unit_amount": 1}, "0": {"up_to": 10,
                                                                 "unit_amount": 2}},
    }))
    assert [t["up_to"] for t in price["tiers"]] == [10, None]


def test_package_pricing_with_transform_quantity(client: stripe.StripeClient) -> None:
    product = client.v1.products.create({"name": "Packages"})
    price = client.v1.prices.create({
        "product": product.id, "currency": "usd", "unit_amount": 300,
        "transform_quantity": {"divide_by": 1000, "round": "up"},
    })
    assert price.transform_quantity.to_dict() == {"divide_by": 1000, "round": "up"}


def test_metered_prices_need_a_meter_of_the_account(client: stripe.StripeClient,
                                                    http: httpx.Client) -> None:
    meter_id = meter(http)
    product = client.v1.products.create({"name": "Tokens"})
    price = client.v1.prices.create({
        "product": product.id, "currency": "usd", "unit_amount_decimal": "0.0002",
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter_id},
    })
    assert price.recurring.to_dict() == {
        "aggregate_usage": None, "interval": "month", "interval_count": 1, "meter": meter_id,
        "trial_period_days": None, "usage_type": "metered"}
    assert price.metered is None


def test_lookup_keys_are_unique_and_transferable(client: stripe.StripeClient) -> None:
    product = client.v1.products.create({"name": "Keys"})

    def create(**extra: Any) -> Any:
        return client.v1.prices.create({"product": product.id, "currency": "usd",
                                        "unit_amount": 1, **extra})

    first = create(lookup_key="pro_monthly")
    with pytest.raises(stripe.InvalidRequestError) as info:
        create(lookup_key="pro_monthly")
    assert info.value.param == "lookup_key" and first.id in str(info.value.user_message)
    second = create(lookup_key="pro_monthly", transfer_lookup_key=True)
    assert second.lookup_key == "pro_monthly"
    assert client.v1.prices.retrieve(first.id).lookup_key is None

    # On update: refused, then moved; "" clears it.
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.prices.update(first.id, {"lookup_key": "pro_monthly"})
    moved = client.v1.prices.update(first.id, {"lookup_key": "pro_monthly",
                                               "transfer_lookup_key": True})
    assert moved.lookup_key == "pro_monthly"
    assert client.v1.prices.retrieve(second.id).lookup_key is None
    found = client.v1.prices.list({"lookup_keys": ["pro_monthly", "nope"]}).data
    assert [p.id for p in found] == [first.id]
    assert client.v1.prices.update(first.id, {"lookup_key": ""}).lookup_key is None
    assert client.v1.prices.list({"lookup_keys": ["pro_monthly"]}).data == []


def test_list_filters_and_pagination(client: stripe.StripeClient, http: httpx.Client) -> None:
    meter_id = meter(http)
    one, two = (client.v1.products.create({"name": n}) for n in ("one", "two"))
    created = [
        client.v1.prices.create({"product": one.id, "currency": "usd", "unit_amount": 1}),
        client.v1.prices.create({"product": one.id, "currency": "eur", "unit_amount": 1,
                                 "recurring": {"interval": "year"}}),
        client.v1.prices.create({"product": two.id, "currency": "usd", "unit_amount": 1,
                                 "recurring": {"interval": "month", "usage_type": "metered",
                                               "meter": meter_id}}),
        client.v1.prices.create({"product": two.id, "currency": "usd", "unit_amount": 1,
                                 "active": False}),
    ]
    ids = [p.id for p in created]

    def listed(**params: Any) -> list[str]:
        return [p.id for p in client.v1.prices.list(params).data]

    assert listed() == ids[::-1]
    assert listed(product=one.id) == [ids[1], ids[0]]
    assert listed(product="prod_nope") == []
    assert listed(currency="EUR") == [ids[1]]
    assert listed(type="one_time") == [ids[3], ids[0]]
    assert listed(active=False) == [ids[3]]
    assert listed(recurring={"interval": "year"}) == [ids[1]]
    assert listed(recurring={"usage_type": "metered"}) == [ids[2]]
    assert listed(recurring={"meter": meter_id}) == [ids[2]]
    assert listed(active=True, type="recurring", currency="usd") == [ids[2]]

    page = client.v1.prices.list({"limit": 3})
    assert [p.id for p in page.data] == ids[:0:-1] and page.has_more
    assert [p.id for p in page.auto_paging_iter()] == ids[::-1]
    assert listed(limit=2, starting_after=ids[2]) == [ids[1], ids[0]]
    assert listed(limit=2, ending_before=ids[0]) == [ids[2], ids[1]]
    expanded = client.v1.prices.list({"expand": ["data.product"], "limit": 1}).data[0]
    assert expanded.product.id == two.id


# --- native: metered[...] ---------------------------------------------------------------------

def test_dimensional_rates_and_period_bounds(http: httpx.Client) -> None:
    meter_id = meter(http, "model", "token_type")
    product = ok(http.post("/v1/products", data={"name": "LLM"}))["id"]
    base = {"product": product, "currency": "usd", "unit_amount_decimal": "0.0001",
            "recurring[interval]": "month", "recurring[usage_type]": "metered",
            "recurring[meter]": meter_id}
    price = ok(http.post("/v1/prices", data={
        **base,
        "metered[dimension_keys][]": ["model", "token_type"],
        "metered[rates][0][dimensions][model]": "large",
        "metered[rates][0][dimensions][token_type]": "output",
        "metered[rates][0][unit_amount_decimal]": "0.006",
        "metered[rates][1][dimensions][model]": "large",
        "metered[rates][1][unit_amount_decimal]": "0.0015",
        "metered[minimum_amount]": "500",
        "metered[maximum_amount]": "100000",
    }))
    assert price["metered"] == {
        "dimension_keys": ["model", "token_type"],
        "rates": [
            {"dimensions": {"model": "large", "token_type": "output"},
             "unit_amount_decimal": "0.006"},
            {"dimensions": {"model": "large"}, "unit_amount_decimal": "0.0015"},
        ],
        "minimum_amount": 500,
        "maximum_amount": 100000,
    }
    assert ok(http.get(f"/v1/prices/{price['id']}"))["metered"] == price["metered"]

    bounded = ok(http.post("/v1/prices", data={**base, "metered[maximum_amount]": "0"}))
    assert bounded["metered"] == {"dimension_keys": [], "rates": [], "minimum_amount": None,
                                  "maximum_amount": 0}


def test_price_terms_read_back_from_the_store(tmp_path: Path) -> None:
    """What the rating functions get: Decimal amounts, tiers with None for "inf", rates."""
    database = Database(tmp_path / "metered.db")
    database.create_schema()
    conn = connect(tmp_path / "metered.db")
    caller = Caller(account_pk=1, livemode=False)
    meter_row = create_meter(conn, caller, MeterSpec(
        display_name="t", event_name="t", formula="sum", dimension_keys=("model",)))
    product = products.create_product(conn, caller, products.ProductSpec(name="p"))
    tiered = prices.create_price(conn, caller, PriceSpec(
        currency="usd", product=product.id, billing_scheme="tiered", tiers_mode="graduated",
        tiers=(PriceTier(10, unit_amount=Decimal("0.5")), PriceTier(None, Decimal(0), Decimal(3))),
    ))
    assert prices.get_price_by_pk(conn, tiered.pk).terms == PriceTerms(
        billing_scheme="tiered", tiers_mode="graduated",
        tiers=(Tier(Decimal(10), Decimal("0.5"), Decimal(0)), Tier(None, Decimal(0), Decimal(3))),
    )
    dimensional = prices.create_price(conn, caller, PriceSpec(
        currency="usd", product=product.id, unit_amount=Decimal("0.25"),
        transform_quantity=TransformQuantity(100, "down"),
        recurring=RecurringSpec("month", usage_type="metered", meter=meter_row.id),
        dimension_keys=("model",),
        rates=(DimensionalRate((("model", "big"),), Decimal("0.000000000001")),),
        minimum_amount=5,
    ))
    terms = prices.get_price(conn, caller, dimensional.id).terms
    assert terms == PriceTerms(
        unit_amount=Decimal("0.25"), transform_quantity=TransformQuantity(100, "down"),
        dimension_keys=("model",),
        rates=(DimensionalRate((("model", "big"),), Decimal("1E-12")),), minimum_amount=5,
    )
    assert terms.dimensional and isinstance(terms.unit_amount, Decimal)
    with pytest.raises(NotFoundError, match="No such price: 'price_nope'"):
        prices.get_price(conn, caller, "price_nope")
    conn.close()


# --- isolation --------------------------------------------------------------------------------

def test_accounts_and_modes_see_only_their_own(server: Server, http: httpx.Client) -> None:
    meter_id = meter(http)
    product = ok(http.post("/v1/products", data={"name": "Mine"}))["id"]
    price = ok(http.post("/v1/prices", data={"product": product, "currency": "usd",
                                              "unit_amount": "1"}))["id"]
    with server.client(server.new_account_key()) as other:
        for path in (f"/v1/products/{product}", f"/v1/prices/{price}"):
            assert refused(other.get(path)) == (404, "id", "resource_missing")
            assert refused(other.post(path, data={"metadata[x]": "y"}))[0] == 404
        assert refused(other.delete(f"/v1/products/{product}"))[0] == 404
        assert ok(other.get("/v1/products"))["data"] == []
        assert ok(other.get("/v1/prices"))["data"] == []
        assert ok(other.get("/v1/prices", params={"product": product}))["data"] == []
        assert refused(other.get("/v1/prices", params={"starting_after": price})) == (
            404, "starting_after", "resource_missing")
        assert refused(other.post("/v1/prices", data={
            "product": product, "currency": "usd", "unit_amount": "1"})) == (
            404, "product", "resource_missing")
        mine = ok(other.post("/v1/products", data={"name": "Theirs"}))["id"]
        assert refused(other.post("/v1/prices", data={
            "product": mine, "currency": "usd", "unit_amount": "1",
            "recurring[interval]": "month", "recurring[usage_type]": "metered",
            "recurring[meter]": meter_id})) == (404, "recurring[meter]", "resource_missing")
        assert refused(other.post(f"/v1/products/{mine}", data={"default_price": price})) == (
            404, "default_price", "resource_missing")
    # Live mode of the same account is another world, too.
    with server.client() as test_mode, server.client(server.new_key(live=True)) as live:
        made = ok(test_mode.post("/v1/products", data={"name": "Test mode"}))
        assert made["livemode"] is False
        assert refused(live.get(f"/v1/products/{made['id']}"))[0] == 404
        assert made["id"] not in [p["id"] for p in ok(live.get("/v1/products"))["data"]]


# --- bad input --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bad_input(server: Server) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """One account for every bad-input case (none of them may change anything)."""
    with server.client(server.new_account_key()) as http_client:
        yield http_client, {
            "product": ok(http_client.post("/v1/products", data={"name": "Bad input"}))["id"],
            "meter": meter(http_client, "model"),
        }
        # Nothing a refused request carried was stored: only what the tests made on purpose.
        names = {p["name"] for p in ok(http_client.get("/v1/products?limit=100"))["data"]}
        assert names <= {"Bad input", "Other"}
        assert len(ok(http_client.get("/v1/prices?limit=100"))["data"]) <= 1


VALID = {"currency": "usd", "unit_amount": "100"}
METERED = {"recurring[interval]": "month", "recurring[usage_type]": "metered",
           "recurring[meter]": "{meter}"}
TIERED = {"billing_scheme": "tiered", "tiers_mode": "graduated"}
TWO_TIERS = {"tiers[0][up_to]": "10", "tiers[0][unit_amount]": "5",
             "tiers[1][up_to]": "inf", "tiers[1][unit_amount]": "1"}
LONG = "x" * 201
DECIMALS = ["NaN", "Infinity", "-Infinity", "sNaN", "1e-3", "1E3", "-0.5", "-0", "+1", ".5",
            "1.", "0.0000000000001", "10000000000001", "abc", " 1", "1 ", "1_000", "0x10",
            "\u0661", "1" * 70, ""]

# (form overrides of a valid per-unit price; None removes a key) -> (status, param, code)
PRICE_CASES: list[tuple[dict[str, Any], tuple[int, str, str]]] = [
    ({"currency": None}, (400, "currency", "parameter_missing")),
    ({"currency": "us"}, (400, "currency", "parameter_invalid")),
    ({"currency": "usdx"}, (400, "currency", "parameter_invalid")),
    ({"currency": "u$d"}, (400, "currency", "parameter_invalid")),
    ({"product": None}, (400, "product", "parameter_missing")),
    ({"product": "prod_nope"}, (404, "product", "resource_missing")),
    ({"product_data[name]": "x"}, (400, "product_data", "parameter_invalid")),
    ({"product": None, "product_data[name]": ""}, (400, "product_data[name]",
                                                   "parameter_invalid")),
    ({"product": None, "product_data[unit_label]": "x"}, (400, "product_data[name]",
                                                          "parameter_missing")),
    ({"product": None, "product_data[name]": "x", "product_data[bogus]": "1"},
     (400, "product_data[bogus]", "parameter_unknown")),
    ({"unit_amount": None}, (400, "unit_amount", "parameter_missing")),
    ({"unit_amount": "-1"}, (400, "unit_amount", "parameter_invalid")),
    ({"unit_amount": "1.5"}, (400, "unit_amount", "parameter_invalid")),
    ({"unit_amount": "1000000000001"}, (400, "unit_amount", "parameter_invalid")),
    ({"unit_amount": "9" * 30}, (400, "unit_amount", "parameter_invalid")),
    ({"unit_amount_decimal": "1"}, (400, "unit_amount_decimal", "parameter_invalid")),
    ({"custom_unit_amount[enabled]": "true"}, (400, "custom_unit_amount",
                                               "parameter_invalid")),
    ({"billing_scheme": "flat"}, (400, "billing_scheme", "parameter_invalid")),
    ({"tiers_mode": "volume"}, (400, "tiers_mode", "parameter_invalid")),
    ({**TWO_TIERS}, (400, "tiers", "parameter_invalid")),
    ({**TIERED, **TWO_TIERS}, (400, "unit_amount", "parameter_invalid")),
    ({**TIERED, "unit_amount": None}, (400, "tiers", "parameter_missing")),
    ({**TIERED, **TWO_TIERS, "unit_amount": None, "tiers_mode": None},
     (400, "tiers_mode", "parameter_missing")),
    ({**TIERED, **TWO_TIERS, "unit_amount": None, "tiers[1][up_to]": "20"},
     (400, "tiers[1][up_to]", "parameter_invalid")),
    ({**TIERED, **TWO_TIERS, "unit_amount": None, "tiers[0][up_to]": "inf"},
     (400, "tiers[0][up_to]", "parameter_invalid")),
    ({**TIERED, **TWO_TIERS, "unit_amount": None, "tiers[0][up_to]": "0"},
     (400, "tiers[0][up_to]", "parameter_invalid")),
    ({**TIERED, **TWO_TIERS, "unit_amount": None, "tiers[0][up_to]": "ten"},
     (400, "tiers[0][up_to]", "parameter_invalid")),
    ({**TIERED, **TWO_TIERS, "unit_amount": None, "tiers[1][up_to]": "5",
      "tiers[2][up_to]": "inf", "tiers[2][unit_amount]": "1"},
     (400, "tiers[1][up_to]", "parameter_invalid")),
    ({**TIERED, **TWO_TIERS, "unit_amount": None, "tiers[0][unit_amount_decimal]": "1"},
     (400, "tiers[0][unit_amount_decimal]", "parameter_invalid")),
    ({**TIERED, **TWO_TIERS, "unit_amount": None, "tiers[1][unit_amount]": None},
     (400, "tiers[1][unit_amount]", "parameter_missing")),
    ({**TIERED, **TWO_TIERS, "unit_amount": None, "tiers[1][flat_amount_decimal]": "1e2"},
     (400, "tiers[1][flat_amount_decimal]", "parameter_invalid")),
    ({**TIERED, **TWO_TIERS, "unit_amount": None, "tiers[1][flat_amount]": "-3"},
     (400, "tiers[1][flat_amount]", "parameter_invalid")),
    ({**TIERED, **TWO_TIERS, "unit_amount": None, "tiers[0][bogus]": "1"},
     (400, "tiers[0][bogus]", "parameter_unknown")),
    ({**TIERED, "unit_amount": None, "tiers": "flat"}, (400, "tiers", "parameter_invalid")),
    ({**TIERED, "unit_amount": None, "tiers[0]": "flat"}, (400, "tiers[0]",
                                                           "parameter_invalid")),
    ({**TIERED, **TWO_TIERS, "unit_amount": None, "transform_quantity[divide_by]": "2",
      "transform_quantity[round]": "up"}, (400, "transform_quantity", "parameter_invalid")),
    ({"transform_quantity[divide_by]": "0", "transform_quantity[round]": "up"},
     (400, "transform_quantity[divide_by]", "parameter_invalid")),
    ({"transform_quantity[round]": "up"}, (400, "transform_quantity[divide_by]",
                                           "parameter_missing")),
    ({"transform_quantity[divide_by]": "2", "transform_quantity[round]": "half"},
     (400, "transform_quantity[round]", "parameter_invalid")),
    ({"transform_quantity": "2"}, (400, "transform_quantity", "parameter_invalid")),
    ({"recurring[interval]": "fortnight"}, (400, "recurring[interval]", "parameter_invalid")),
    ({"recurring[interval_count]": "2"}, (400, "recurring[interval]", "parameter_missing")),
    ({"recurring[interval]": "month", "recurring[interval_count]": "0"},
     (400, "recurring[interval_count]", "parameter_invalid")),
    ({"recurring[interval]": "month", "recurring[interval_count]": "37"},
     (400, "recurring[interval_count]", "parameter_invalid")),
    ({"recurring[interval]": "week", "recurring[interval_count]": "157"},
     (400, "recurring[interval_count]", "parameter_invalid")),
    ({"recurring[interval]": "month", "recurring[usage_type]": "prepaid"},
     (400, "recurring[usage_type]", "parameter_invalid")),
    ({"recurring[interval]": "month", "recurring[usage_type]": "metered"},
     (400, "recurring[meter]", "parameter_missing")),
    ({"recurring[interval]": "month", "recurring[meter]": "{meter}"},
     (400, "recurring[meter]", "parameter_invalid")),
    ({**METERED, "recurring[meter]": "mtr_nope"}, (404, "recurring[meter]",
                                                   "resource_missing")),
    ({"recurring[interval]": "month", "recurring[trial_period_days]": "3"},
     (400, "recurring[trial_period_days]", "parameter_unknown")),
    ({"lookup_key": LONG}, (400, "lookup_key", "parameter_invalid")),
    ({"transfer_lookup_key": "true"}, (400, "transfer_lookup_key", "parameter_invalid")),
    ({"transfer_lookup_key": "maybe", "lookup_key": "k"}, (400, "transfer_lookup_key",
                                                           "parameter_invalid")),
    ({"active": "yes"}, (400, "active", "parameter_invalid")),
    ({"metadata": "x"}, (400, "metadata", "parameter_invalid")),
    ({"tax_behavior": "exclusive"}, (400, "tax_behavior", "parameter_unknown")),
    ({"bogus": "1"}, (400, "bogus", "parameter_unknown")),
    ({"metered[minimum_amount]": "1"}, (400, "metered", "parameter_invalid")),
    ({**METERED, "metered[minimum_amount]": "-1"}, (400, "metered[minimum_amount]",
                                                    "parameter_invalid")),
    ({**METERED, "metered[minimum_amount]": "10", "metered[maximum_amount]": "9"},
     (400, "metered[maximum_amount]", "parameter_invalid")),
    ({**METERED, "metered[dimension_keys][]": "region"}, (400, "metered[dimension_keys]",
                                                          "parameter_invalid")),
    ({**METERED, "metered[dimension_keys][0]": "model", "metered[dimension_keys][1]": "model"},
     (400, "metered[dimension_keys]", "parameter_invalid")),
    ({**METERED, "metered[rates][0][dimensions][model]": "a",
      "metered[rates][0][unit_amount_decimal]": "1"},
     (400, "metered[dimension_keys]", "parameter_missing")),
    ({**METERED, "metered[dimension_keys][]": "model",
      "metered[rates][0][dimensions][region]": "eu",
      "metered[rates][0][unit_amount_decimal]": "1"},
     (400, "metered[rates][0][dimensions][region]", "parameter_invalid")),
    ({**METERED, "metered[dimension_keys][]": "model",
      "metered[rates][0][dimensions][model]": "a"},
     (400, "metered[rates][0][unit_amount_decimal]", "parameter_missing")),
    ({**METERED, "metered[dimension_keys][]": "model",
      "metered[rates][0][dimensions][model]": "a",
      "metered[rates][0][unit_amount_decimal]": "1e-3"},
     (400, "metered[rates][0][unit_amount_decimal]", "parameter_invalid")),
    ({**METERED, "metered[dimension_keys][]": "model",
      "metered[rates][0][unit_amount_decimal]": "1"},
     (400, "metered[rates][0][dimensions]", "parameter_missing")),
    ({**METERED, "metered[dimension_keys][]": "model",
      "metered[rates][0][dimensions][model]": "a", "metered[rates][0][unit_amount_decimal]": "1",
      "metered[rates][1][dimensions][model]": "a",
      "metered[rates][1][unit_amount_decimal]": "2"},
     (400, "metered[rates][1][dimensions]", "parameter_invalid")),
    ({**METERED, **TIERED, **TWO_TIERS, "unit_amount": None,
      "metered[dimension_keys][]": "model"}, (400, "metered[dimension_keys]",
                                              "parameter_invalid")),
    ({**METERED, "metered[bogus]": "1"}, (400, "metered[bogus]", "parameter_unknown")),
    *[({"unit_amount": None, "unit_amount_decimal": text},
       (400, "unit_amount" if text == "" else "unit_amount_decimal",
        "parameter_missing" if text == "" else "parameter_invalid"))
      for text in DECIMALS],
]


def _form(overrides: dict[str, Any], world: dict[str, str]) -> dict[str, Any]:
    form: dict[str, Any] = {**VALID, "product": world["product"]}
    for name, value in overrides.items():
        if value is None:
            form.pop(name, None)
        else:
            form[name] = value.format(**world) if isinstance(value, str) else value
    return form


@pytest.mark.parametrize(("overrides", "expected"), PRICE_CASES,
                         ids=[str(i) for i in range(len(PRICE_CASES))])
def test_bad_price_input_names_the_param(bad_input: tuple[httpx.Client, dict[str, str]],
                                         overrides: dict[str, Any],
                                         expected: tuple[int, str, str]) -> None:
    http, world = bad_input
    assert refused(http.post("/v1/prices", data=_form(overrides, world))) == expected


JSON_CASES: list[tuple[dict[str, Any], tuple[int, str, str]]] = [
    ({"unit_amount": 1.5}, (400, "unit_amount", "parameter_invalid")),
    ({"unit_amount": True}, (400, "unit_amount", "parameter_invalid")),
    ({"unit_amount": 10**15}, (400, "unit_amount", "parameter_invalid")),
    ({"unit_amount": None, "unit_amount_decimal": 0.5}, (400, "unit_amount_decimal",
                                                         "parameter_invalid")),
    ({"unit_amount": None, "unit_amount_decimal": -1}, (400, "unit_amount_decimal",
                                                        "parameter_invalid")),
    ({"unit_amount": None, "unit_amount_decimal": ["1"]}, (400, "unit_amount_decimal",
                                                           "parameter_invalid")),
    ({"currency": ["usd"]}, (400, "currency", "parameter_invalid")),
    ({"recurring": "month"}, (400, "recurring", "parameter_invalid")),
    ({"recurring": {"interval": "month", "interval_count": "1e3"}},
     (400, "recurring[interval_count]", "parameter_invalid")),
    ({**TIERED, "unit_amount": None, "tiers": {"a": {}}}, (400, "tiers", "parameter_invalid")),
    ({**TIERED, "unit_amount": None, "tiers": [1, 2]}, (400, "tiers[0]", "parameter_invalid")),
    ({**TIERED, "unit_amount": None, "tiers": [{"up_to": 2.5, "unit_amount": 1}]},
     (400, "tiers[0][up_to]", "parameter_invalid")),
    ({**TIERED, "unit_amount": None, "tiers": [{"up_to": "inf", "unit_amount": 1}] * 251},
     (400, "tiers", "parameter_invalid")),
    ({"metered": {"rates": "x"}}, (400, "metered[rates]", "parameter_invalid")),
    ({"metered": ["x"]}, (400, "metered", "parameter_invalid")),
    ({"product_data": "x"}, (400, "product_data", "parameter_invalid")),
]


@pytest.mark.parametrize(("overrides", "expected"), JSON_CASES,
                         ids=[str(i) for i in range(len(JSON_CASES))])
def test_bad_json_price_input_names_the_param(bad_input: tuple[httpx.Client, dict[str, str]],
                                              overrides: dict[str, Any],
                                              expected: tuple[int, str, str]) -> None:
    http, world = bad_input
    body: dict[str, Any] = {"currency": "usd", "unit_amount": 100, "product": world["product"]}
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not None}
    assert refused(http.post("/v1/prices", json=body)) == expected


def test_bad_product_input_names_the_param(bad_input: tuple[httpx.Client, dict[str, str]]
                                           ) -> None:
    http, world = bad_input
    price = ok(http.post("/v1/prices", data={**VALID, "product": world["product"]}))["id"]
    other = ok(http.post("/v1/products", data={"name": "Other"}))["id"]
    cases: list[tuple[str, str, dict[str, Any], tuple[int, str, str]]] = [
        ("POST", "/v1/products", {}, (400, "name", "parameter_missing")),
        ("POST", "/v1/products", {"name": ""}, (400, "name", "parameter_invalid")),
        ("POST", "/v1/products", {"name": "x" * 251}, (400, "name", "parameter_invalid")),
        ("POST", "/v1/products", {"name": "x", "unit_label": "x" * 13},
         (400, "unit_label", "parameter_invalid")),
        ("POST", "/v1/products", {"name": "x", "id": "has space"}, (400, "id",
                                                                    "parameter_invalid")),
        ("POST", "/v1/products", {"name": "x", "id": world["product"]},
         (400, "id", "resource_already_exists")),
        ("POST", "/v1/products", {"name": "x", "active": "sometimes"},
         (400, "active", "parameter_invalid")),
        ("POST", "/v1/products", {"name": "x", "images[]": "a.png"},
         (400, "images", "parameter_unknown")),
        ("POST", "/v1/products", {"name": "x", "default_price_data[unit_amount]": "1"},
         (400, "default_price_data[currency]", "parameter_missing")),
        ("POST", "/v1/products", {"name": "x", "default_price_data[currency]": "usd"},
         (400, "default_price_data[unit_amount]", "parameter_missing")),
        ("POST", "/v1/products", {"name": "x", "default_price_data[currency]": "usd",
                                  "default_price_data[unit_amount_decimal]": "1e5"},
         (400, "default_price_data[unit_amount_decimal]", "parameter_invalid")),
        ("POST", "/v1/products", {"name": "x", "default_price_data[currency]": "usd",
                                  "default_price_data[unit_amount]": "1",
                                  "default_price_data[recurring][interval]": "month",
                                  "default_price_data[recurring][usage_type]": "metered"},
         (400, "default_price_data[recurring][usage_type]", "parameter_unknown")),
        ("POST", "/v1/products", {"name": "x", "default_price_data[currency]": "usd",
                                  "default_price_data[unit_amount]": "1",
                                  "default_price_data[recurring][interval]": "year",
                                  "default_price_data[recurring][interval_count]": "4"},
         (400, "default_price_data[recurring][interval_count]", "parameter_invalid")),
        ("POST", "/v1/products", {"name": "x", "default_price_data[currency]": "usd",
                                  "default_price_data[unit_amount]": "1",
                                  "default_price_data[custom_unit_amount][enabled]": "true"},
         (400, "default_price_data[custom_unit_amount]", "parameter_invalid")),
        ("POST", f"/v1/products/{other}", {"name": ""}, (400, "name", "parameter_invalid")),
        ("POST", f"/v1/products/{other}", {"default_price": "price_nope"},
         (404, "default_price", "resource_missing")),
        ("POST", f"/v1/products/{other}", {"default_price": price},
         (400, "default_price", "parameter_invalid")),
        ("POST", f"/v1/products/{other}", {"type": "good"}, (400, "type", "parameter_unknown")),
        ("POST", "/v1/products/prod_nope", {"name": "y"}, (404, "id", "resource_missing")),
        ("DELETE", "/v1/products/prod_nope", {}, (404, "id", "resource_missing")),
        ("GET", "/v1/products", {"active": "maybe"}, (400, "active", "parameter_invalid")),
        ("GET", "/v1/products", {"shippable": "true"}, (400, "shippable", "parameter_unknown")),
        ("GET", "/v1/products", {"expand[]": "data.tax_code"}, (400, "expand",
                                                                "parameter_invalid")),
        ("GET", f"/v1/products/{other}", {"expand[]": "default_price.product"},
         (400, "expand", "parameter_invalid")),
        ("POST", f"/v1/prices/{price}", {"unit_amount": "5"}, (400, "unit_amount",
                                                               "parameter_unknown")),
        ("POST", f"/v1/prices/{price}", {"currency": "eur"}, (400, "currency",
                                                              "parameter_unknown")),
        ("POST", f"/v1/prices/{price}", {"active": "2"}, (400, "active", "parameter_invalid")),
        ("POST", f"/v1/prices/{price}", {"lookup_key": LONG}, (400, "lookup_key",
                                                               "parameter_invalid")),
        ("POST", f"/v1/prices/{price}", {"transfer_lookup_key": "true"},
         (400, "transfer_lookup_key", "parameter_invalid")),
        ("POST", "/v1/prices/price_nope", {"nickname": "n"}, (404, "id", "resource_missing")),
        ("GET", "/v1/prices/price_nope", {}, (404, "id", "resource_missing")),
        ("GET", f"/v1/prices/{price}", {"expand[]": "currency_options"},
         (400, "expand", "parameter_invalid")),
        ("GET", "/v1/prices", {"limit": "0"}, (400, "limit", "parameter_invalid")),
        ("GET", "/v1/prices", {"type": "sometimes"}, (400, "type", "parameter_invalid")),
        ("GET", "/v1/prices", {"recurring[interval]": "hour"}, (400, "recurring[interval]",
                                                                "parameter_invalid")),
        ("GET", "/v1/prices", {"recurring[bogus]": "x"}, (400, "recurring[bogus]",
                                                          "parameter_unknown")),
        ("GET", "/v1/prices", {f"lookup_keys[{i}]": "k" for i in range(11)},
         (400, "lookup_keys", "parameter_invalid")),
        ("GET", "/v1/prices", {"created": "1"}, (400, "created", "parameter_unknown")),
    ]
    for method, path, data, expected in cases:
        if method == "GET":
            response = http.get(path, params=data)
        elif method == "DELETE":
            response = http.delete(path)
        else:
            response = http.post(path, data=data)
        assert refused(response) == expected, (method, path, data)
