"""`python -m metered.api.openapi` prints the document."""

from metered.api.openapi.document import main

main()
