"""The ``skybridge`` command's sub-commands; :mod:`skybridge.cli` assembles them."""
