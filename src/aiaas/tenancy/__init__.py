"""Tenants, users, roles, API keys and authentication. The tenant context is scoped here."""
