"""Ingest: validating meter events, group-committing them durably, and applying them exactly once.

Owns the event model, validation, the writer thread (group commit) and `apply_events`, which in
one transaction drops duplicates, stores raw events and updates rollups. Imports metering,
billing.customers, accounts, store, errors. Never imports api.
"""
