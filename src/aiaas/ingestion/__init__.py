"""Ingestion: documents of a tenant's knowledge base, their parsers, chunker and retrieval core.

The pure building blocks live in :mod:`aiaas.ingestion.parsers`, :mod:`aiaas.ingestion.chunker` and
:mod:`aiaas.ingestion.retrieval`; they hold no state and touch no database, so the DB-backed service
and the offline evaluation share the exact same code path.
"""
