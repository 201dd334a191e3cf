"""List pages and auto-paging, Stripe style: `page.data`, `page.has_more`, and
`page.auto_paging_iter()` walking the next pages with `starting_after` (or backwards with
`ending_before` when the first page was asked for that way)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from metered.client.models import ListEnvelope
from metered.client.transport import Transport
from metered.client.wire import ApiRequest, ParamValue


class HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=HasId)


@dataclass(slots=True)
class Page(Generic[T]):
    data: list[T]
    has_more: bool
    url: str | None
    backwards: bool = False
    _fetch: Callable[[Mapping[str, ParamValue]], Page[T]] | None = field(
        default=None, repr=False, compare=False)

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def next_page(self) -> Page[T] | None:
        """The page after this one in the direction of travel, or None at the end."""
        if not self.has_more or not self.data or self._fetch is None:
            return None
        if self.backwards:
            return self._fetch({"ending_before": self.data[0].id})
        return self._fetch({"starting_after": self.data[-1].id})

    def auto_paging_iter(self) -> Iterator[T]:
        """Every object from this page on, fetching pages lazily. Forwards: newest first.
        Backwards (the first page was asked with `ending_before`): oldest first."""
        page: Page[T] | None = self
        while page is not None:
            yield from (reversed(page.data) if page.backwards else page.data)
            page = page.next_page()


def fetch_page(transport: Transport, path: str, params: Mapping[str, ParamValue | None],
               item: type[T]) -> Page[T]:
    """GET one page of a list endpoint; the page knows how to fetch the ones after it."""
    filters = {k: v for k, v in params.items() if k not in ("starting_after", "ending_before")}

    def fetch(cursor: Mapping[str, ParamValue]) -> Page[T]:
        return fetch_page(transport, path, {**filters, **cursor}, item)

    answer = ListEnvelope[item]  # type: ignore[valid-type]
    envelope = transport.send(ApiRequest.get(path, params), answer)
    return Page(envelope.data, envelope.has_more, envelope.url,
                backwards=params.get("ending_before") is not None, _fetch=fetch)
