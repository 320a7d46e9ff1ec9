"""Adapters to the outside world, each a small Protocol with a production and an embedded implementation."""
