"""Billing: customers now; products, prices, subscriptions, invoices and credits as they land.

Imports accounts, store, errors (and later pricing, metering). Never imports api.
"""
