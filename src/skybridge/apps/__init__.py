"""The capabilities: one package per app, each declared by its ``manifest.py`` (``APP``).

See :mod:`skybridge.apps.kit.manifest` for what a manifest declares and ``docs/apps.md`` for how
to write an app. Apps are discovered from the subpackages here and from the ``skybridge.apps``
entry points of other distributions; importing this package imports no app.
"""
