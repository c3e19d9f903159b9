"""The features: one package each, of the same shape (see docs/architecture.md).

`handlers/<feature>/__init__.py` holds the feature's manifest (`FEATURE`); the composition
root (`bot/app.py`) lists the features it runs. A feature reaches another feature only
through that feature's `ops`.
"""
