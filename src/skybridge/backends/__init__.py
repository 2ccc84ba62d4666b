"""Backend families. Each family package holds ``base.py`` (the contract), its implementations,
a ``registry`` (scheme -> class) and ``connect(url)``.
"""
