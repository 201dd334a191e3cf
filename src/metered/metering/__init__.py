"""Metering: meters, exact quantities, minute/hour/day rollups and event summaries.

Owns the meters, dimension_sets and rollup_* tables. Imports accounts, store and
errors. Never imports api, ingest or billing.
"""
