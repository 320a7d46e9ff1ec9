"""Routing: per request, which workflow handles it and which model tier answers it.

The intent classifier lives in :mod:`aiaas.router.intent`; import it from there (it is not
re-exported here, so importing the router's settings does not load scikit-learn).
"""
