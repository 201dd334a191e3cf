"""`AsyncClient`: the same resources for asyncio code, every call awaitable.

Each call runs the synchronous client's method in a worker thread (`asyncio.to_thread`), so the
event loop never blocks and the behaviour (typed answers, retries with the same Idempotency-Key,
exact decimals, errors) is the tested synchronous one. Lists answer an `AsyncPage` that
`async for` walks, fetching the next pages in threads. `events.send` queues without blocking
(the background sender); `await events.flush()` and `await client.close()` wait in a thread.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

from metered.client.client import Client
from metered.client.pages import Page

T = TypeVar("T")

# Resource methods that answer a Page: wrapped so the page's later fetches run in threads too.
_LISTS = ("list", "transactions")
_SYNC = ("send",)  # queueing an event never blocks: no thread needed


class AsyncPage(Generic[T]):
    """A page of a list; `async for item in page` walks it and the pages after it."""

    def __init__(self, page: Page[Any]):
        self._page = page
        self.data: list[T] = page.data
        self.has_more = page.has_more
        self.url = page.url

    def __len__(self) -> int:
        return len(self.data)

    async def next_page(self) -> AsyncPage[T] | None:
        page = await asyncio.to_thread(self._page.next_page)
        return None if page is None else AsyncPage(page)

    async def __aiter__(self) -> AsyncIterator[T]:
        page: AsyncPage[T] | None = self
        while page is not None:
            for item in (reversed(page.data) if page._page.backwards else page.data):
                yield item
            page = await page.next_page()


class _AsyncResource:
    """Awaitable versions of one synchronous resource's public methods."""

    def __init__(self, resource: Any):
        self._resource = resource

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._resource, name)
        if name.startswith("_") or not callable(attribute) or name in _SYNC:
            return attribute
        if name == "list_all":
            return self._list_all
        if name in _LISTS:
            return self._wrap_list(attribute)
        return self._wrap(attribute)

    @staticmethod
    def _wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)
        return call

    @staticmethod
    def _wrap_list(method: Callable[..., Page[Any]]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> AsyncPage[Any]:
            return AsyncPage(await asyncio.to_thread(method, *args, **kwargs))
        return call

    def _list_all(self, **params: Any) -> AsyncIterator[Any]:
        """`async for obj in client.x.list_all(...)`: every object, 100 per page."""
        async def walk() -> AsyncIterator[Any]:
            page = AsyncPage[Any](await asyncio.to_thread(self._resource.list, limit=100,
                                                          **params))
            async for item in page:
                yield item
        return walk()


class AsyncClient:
    """`Client`'s resources with awaitable calls (same arguments; see `Client`)."""

    _RESOURCES = ("customers", "meters", "events", "products", "prices", "subscriptions",
                  "subscription_items", "invoices", "credit_grants", "credit_balances",
                  "credit_holds", "alerts", "test_clocks")

    def __init__(self, api_key: str | None = None, base_url: str | None = None,
                 **options: Any):
        self._client = Client(api_key, base_url, **options)
        self.base_url = self._client.base_url
        for name in self._RESOURCES:
            setattr(self, name, _AsyncResource(getattr(self._client, name)))

    async def close(self, timeout: float | None = 30.0) -> None:
        """Send what `events.send` queued, then release the connections."""
        await asyncio.to_thread(self._client.close, timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()
