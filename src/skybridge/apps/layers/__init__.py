"""layers: Lambda layer builds that are small, correct and safe.

Cross-platform wheels for the target runtime and architecture, slimming that keeps dist-info,
an import smoke test, vulnerability/licence/code scanning, idempotent publishing with grants,
pruning that never deletes a version in use, usage reports, gradual rollout through weighted
aliases with rollback on an alarm, and size and cold-start metrics. The Python API is
:mod:`skybridge.apps.layers.api`; the manifest is :mod:`.manifest`. This package imports
nothing, so reading the manifest stays cheap.
"""
