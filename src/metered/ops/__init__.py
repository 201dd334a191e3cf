"""Operations: Prometheus metrics, readiness, structured logs and online backups.

Imports the engine's parts (ingest, store, webhooks) to observe them; nothing imports ops but
the api and the cli.
"""
