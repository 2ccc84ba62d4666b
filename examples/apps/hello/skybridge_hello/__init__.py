"""skybridge-hello: a complete example app (see ``manifest.py``)."""
