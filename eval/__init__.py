"""Evaluation suites of the platform (run each with ``python -m eval.<suite>.run``)."""
