"""CLI start-up: ``skybridge version`` and ``skybridge --help`` against ``import typer``.

The anchor is the floor every Typer CLI pays: a Python process that imports Typer and exits
(``python -c "import typer"``), measured in the same run. Ours runs the installed console
script (``<venv>/bin/skybridge``) in an empty folder with no settings. Each command runs
``--runs`` times (default 10) after one warm-up, in rounds that run every command once in turn;
the best wall time counts (the machine is
shared; the minimum is the least disturbed run). ``version`` is answered before the command
tree is built; ``--help`` reads every app manifest (names and descriptions) and builds the
root group, importing no command and no app implementation.

The third line registers 10 extra apps through entry points (fake distributions on
PYTHONPATH, each a manifest with every kind of part) and compares ``--help`` with and without
them registered (two copies of the same folder on PYTHONPATH, one without the entry points, so
only the registration differs);
``python -X importtime`` then checks that none of their implementation modules (nor any of
skybridge's own app modules other than manifests) was imported.

Run: .venv/bin/python benchmarks/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from skybridge.testing.plugins import fake_distribution

DUMMY_APPS = 10
MANIFEST = """from skybridge.apps.kit.manifest import AppSpec

APP = AppSpec(
    name="dummy{n}",
    title="Dummy {n}",
    description="A registered app whose parts are never imported by --help.",
    config="dummy{n}_impl.config:Config",
    cli="dummy{n}_impl.cli:app",
    router="dummy{n}_impl.router:build",
    page="dummy{n}_impl.page:render",
    pipelines={{"main": "dummy{n}_impl.pipeline:build"}},
    jobs={{"tick": "dummy{n}_impl.jobs:tick"}},
    scopes={{"dummy{n}:read": "read"}},
)
"""
#: The smallest Typer CLI with a command group: its ``--help`` pays for Typer's help
#: rendering (rich), which ``import typer`` alone does not (printed for context, no claim).
MINIMAL_CLI = """import typer

app = typer.Typer()


@app.command()
def hello() -> None:
    \"\"\"Say hello.\"\"\"


@app.command()
def bye() -> None:
    \"\"\"Say bye.\"\"\"


app()
"""
#: An implementation module that fails loudly if anything imports it.
IMPLEMENTATION = 'raise ImportError("dummy app implementation imported")\n'


def console_script() -> list[str]:
    script = Path(sys.prefix) / "bin" / "skybridge"
    return [str(script)] if script.exists() else [sys.executable, "-m", "skybridge.cli"]


Command = tuple[list[str], dict[str, str]]


def best_times(commands: dict[str, Command], cwd: Path, runs: int) -> dict[str, float]:
    """The best wall time of each command over ``runs`` rounds. Each round runs every command
    once, in turn, so a burst of load on the shared machine hits all of them alike instead of
    whichever happened to be measured then."""
    for command, env in commands.values():  # warm-up: page cache, bytecode
        subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=True)
    best = dict.fromkeys(commands, float("inf"))
    for _ in range(runs):
        for label, (command, env) in commands.items():
            started = time.perf_counter()
            subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=True)
            best[label] = min(best[label], time.perf_counter() - started)
    return best


def dummy_apps(root: Path) -> str:
    """Ten fake distributions registering an app each; returns the PYTHONPATH entry."""
    site = root / "site"
    site.mkdir(parents=True)
    for n in range(DUMMY_APPS):
        package = site / f"dummy{n}"
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "manifest.py").write_text(MANIFEST.format(n=n))
        implementation = site / f"dummy{n}_impl"
        implementation.mkdir()
        (implementation / "__init__.py").write_text(IMPLEMENTATION)
        fake_distribution(site, f"dummy{n}", {"skybridge.apps": {"d": f"dummy{n}.manifest:APP"}})
    return str(site)


def imported_modules(command: list[str], env: dict[str, str], cwd: Path) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "skybridge.cli", *command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}


def line(claim: str, ours: float, anchor: float, goal: float) -> str:
    ratio = anchor / ours
    verdict = "PASS" if ratio >= goal else "FAIL"
    return (
        f"{claim}: ours={ours * 1000:.0f}ms anchor={anchor * 1000:.0f}ms ratio={ratio:.2f} "
        f"goal={goal:.2f} {verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYBRIDGE")}
    ours = console_script()
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        (cwd / "minimal_cli.py").write_text(MINIMAL_CLI)
        site = dummy_apps(cwd / "registered")
        plain_site = dummy_apps(cwd / "plain")
        for info in Path(plain_site).glob("*.dist-info"):
            (info / "entry_points.txt").unlink()  # the same files, nothing registered
        with_dummies = {**env, "PYTHONPATH": site}
        plain = {**env, "PYTHONPATH": plain_site}
        listed = subprocess.run([*ours, "--help"], env=with_dummies, cwd=cwd, capture_output=True)
        imported = imported_modules(["--help"], with_dummies, cwd)
        best = best_times(
            {
                "typer": ([sys.executable, "-c", "import typer"], plain),
                "minimal": ([sys.executable, "minimal_cli.py", "--help"], plain),
                "version": ([*ours, "version"], plain),
                "help": ([*ours, "--help"], plain),
                "help-dummies": ([*ours, "--help"], with_dummies),
            },
            cwd,
            args.runs,
        )
        typer_floor, minimal_help = best["typer"], best["minimal"]
        version, help_plain, help_dummies = best["version"], best["help"], best["help-dummies"]
    leaks = sorted(m for m in imported if "_impl" in m or _app_implementation(m))
    results = [
        line("skybridge version wall time (vs import typer, <= 2x)", version, typer_floor, 0.5),
        line("skybridge --help wall time (vs import typer, <= 3x)", help_plain, typer_floor, 1 / 3),
        line(
            f"skybridge --help with {DUMMY_APPS} extra apps (vs without, within 10%)",
            help_dummies,
            help_plain,
            1 / 1.1,
        ),
    ]
    for text in results:
        print(text)
    print(f"# context: a two-command Typer app's --help (rich help rendering): "
          f"{minimal_help * 1000:.0f}ms")  # fmt: skip
    shown = all(f"dummy{n}" in listed.stdout.decode() for n in range(DUMMY_APPS))
    print(f"# --help lists all {DUMMY_APPS} extra apps: {'yes' if shown else 'NO'}")
    print(f"# app implementation modules imported by --help: {leaks or 'none'}")
    failed = any(text.endswith("FAIL") for text in results) or leaks or not shown
    return 1 if failed else 0


def _app_implementation(module: str) -> bool:
    parts = module.split(".")
    is_app = len(parts) >= 4 and parts[:2] == ["skybridge", "apps"] and parts[2] != "kit"
    return is_app and parts[3] != "manifest"


if __name__ == "__main__":
    sys.exit(main())
