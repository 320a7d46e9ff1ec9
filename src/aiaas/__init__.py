"""aiaas: a self-hostable, multi-tenant AI customer-support platform."""

__version__ = "0.1.0"
