"""The costs app: multi-cloud cost governance on FOCUS data (see ``manifest.py``)."""
