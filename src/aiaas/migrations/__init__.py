"""Alembic migrations, shipped inside the package so `aiaas migrate` works from an installed wheel."""
