"""Manifest of the test-only ``slowpoke`` app (installed by tests through a fake entry point)."""

from skybridge.apps.kit.manifest import AppSpec

APP = AppSpec(
    name="slowpoke",
    title="Slowpoke",
    description="Test-only: a route that holds a worker thread, and one that takes big bodies.",
    router="skybridge_slowpoke.router:build_router",
    scopes={"slowpoke:sleep": "read", "slowpoke:upload": "operate"},
)
