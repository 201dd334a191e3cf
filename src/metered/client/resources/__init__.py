"""One class per API resource (`client.customers`, `client.meters`, `client.events`): each
method builds an `ApiRequest` and names the type its answer decodes to."""

from metered.client.resources.customers import Customers
from metered.client.resources.events import Events
from metered.client.resources.meters import Meters

__all__ = ["Customers", "Events", "Meters"]
