"""Demo data for ``skybridge up --demo``: two builds of a small layer, published on the
embedded platform, two functions using it and a rollout under way.

Everything is offline: the layer's packages are small wheels written here and installed by pip
from that folder alone (``--no-index``). Idempotent: nothing is done once the demo layer has
a published version.
"""

from __future__ import annotations

from pathlib import Path

from skybridge.apps.layers import api
from skybridge.apps.layers.install import Sources
from skybridge.apps.layers.wheels import write_wheel
from skybridge.backends.functions import Alias

LAYER = "demo-deps"
FUNCTIONS = ("demo-orders", "demo-invoices")
ALARM = "demo-orders-errors"
_GREETING = (
    'def greet(name: str) -> str:\n    return f"{PREFIX}, {name}!"\n\n\nPREFIX = "%s"\n\n\n'
    'def main() -> None:\n    print(greet("world"))\n'
)


def _wheels(folder: Path) -> None:
    for version, prefix in (("1.0.0", "Hello"), ("1.1.0", "Hi")):
        write_wheel(
            folder,
            "skybridge-demo-greeting",
            version,
            {
                "demo_greeting/__init__.py": _GREETING % prefix,
                "demo_greeting/tests/test_greet.py": "def test_greet():\n    assert True\n",
            },
            entry_points="[console_scripts]\ndemo-greet = demo_greeting:main\n",
        )
    write_wheel(
        folder,
        "skybridge-demo-units",
        "0.3.0",
        {"demo_units.py": "def to_mb(size: int) -> float:\n    return size / 2**20\n"},
        licence="Apache-2.0",
    )


def _build(ctx: api.Context, folder: Path, greeting: str) -> None:
    requirements = folder / f"requirements-{greeting}.txt"
    requirements.write_text(f"skybridge-demo-greeting=={greeting}\nskybridge-demo-units==0.3.0\n")
    sources = Sources(find_links=(str(folder / "wheels"),), no_index=True)
    api.build(ctx, LAYER, requirements, sources=sources)


def seed(ctx: api.Context) -> None:
    with ctx.connect("functions") as platform:
        if platform.list_layer_versions(LAYER):
            return
    folder = ctx.data_dir / "layers-demo"
    _wheels(folder / "wheels")
    _build(ctx, folder, "1.0.0")
    first = api.publish(ctx, LAYER).layer.arn
    with ctx.connect("functions") as platform:
        for name in FUNCTIONS:
            platform.create_function(
                name, runtime=ctx.config.runtime, code=b"PK\x05\x06" + b"\0" * 18, layers=[first]
            )
            version = platform.publish_function_version(name, "demo").version
            platform.put_alias(Alias(name, "live", version))
        platform.set_alarm_state(ALARM, "OK", "demo: no errors")
    _build(ctx, folder, "1.1.0")
    second = api.publish(ctx, LAYER).layer.arn
    api.start_rollout(ctx, FUNCTIONS[0], "live", second, alarm=ALARM)
