"""The OpenAPI 3.1 description of the HTTP API: the live router's routes, each described by an
entry of OPERATIONS, with the wire objects' schemas read off their `to_wire` functions.

`build_document(router)` refuses a router whose routes and OPERATIONS differ, so a route added
without a description fails tests/api/test_openapi.py. `python -m metered.api.openapi` prints
the document that GET /openapi.json serves; docs/openapi.json is that output. Modules:
`vocabulary` (schema constructors), `objects` (the wire objects), `parameters` (shared request
parameters), `operations` (one entry per route), `document` (the builder).
"""

from metered.api.openapi.document import (
    UndocumentedRoutes,
    build_document,
    document_bytes,
    fresh_router,
    main,
    route_table,
)
from metered.api.openapi.operations import OPERATIONS, Operation

__all__ = ["OPERATIONS", "Operation", "UndocumentedRoutes", "build_document", "document_bytes",
           "fresh_router", "main", "route_table"]
