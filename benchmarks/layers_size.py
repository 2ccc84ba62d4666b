"""Layer size and correctness: skybridge's build against naive ``pip install --target`` + zip.

Reference requirement set (boto3 excluded: the runtime ships it): requests, pydantic, numpy,
pinned, for python3.12 on x86_64 (default) or arm64 (``--arch arm64``). Both builds download
the same wheels for the same target with pip (``--platform manylinux... --python-version 3.12
--implementation cp --only-binary=:all:``, which the target needs in any case) and zip with
deflate level 9:

* anchor, naive: ``pip install --target`` with pip's defaults (it compiles bytecode with the
  host's Python, 3.11 here, which the 3.12 runtime never reads), zipped as is;
* anchor, the original design: naive, then delete ``*.pyc``, ``tests`` and ``*.dist-info``;
* ours: :func:`skybridge.apps.layers.build.build_layer` with its defaults.

A last line measures an option, not a default: the cold-start proxy (median wall time of
``import numpy, pydantic, requests`` in a fresh python3.12, 5 runs, no bytecode written) of our
build with ``precompile=True`` against the naive layer, whose host bytecode 3.12 cannot use.

Claims: our zipped size against the naive one (goal <= 0.7x, ratio = naive/ours >= 1.43),
counted only when our layer passes the import smoke test in a fresh python3.12 with
``importlib.metadata.version()`` right for every package; the same smoke test on the original
design's layer (its slimming breaks metadata); and a rebuild with unchanged inputs against the
naive rebuild (ours comes from the content-addressed cache).

Run: .venv/bin/python benchmarks/layers_size.py [--arch x86_64|arm64]
(needs the package registry for the first download; pip's cache serves later runs).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from skybridge.apps.layers.archive import write_archive
from skybridge.apps.layers.build import BuildRequest, build_layer
from skybridge.apps.layers.bytecode import import_seconds
from skybridge.apps.layers.install import Sources, pip_command
from skybridge.apps.layers.interpreters import find_interpreter
from skybridge.apps.layers.inventory import read_packages
from skybridge.apps.layers.smoke import smoke_test
from skybridge.apps.layers.targets import Target

REQUIREMENTS = "requests==2.32.3\npydantic==2.9.2\nnumpy==2.1.3\n"
GOAL_SIZE = 1 / 0.7


def naive(requirements: Path, target: Target, folder: Path) -> float:
    """pip's defaults (bytecode compiled by the host); returns the seconds it took."""
    started = time.perf_counter()
    command = [
        c for c in pip_command(requirements, target, folder, Sources()) if c != "--no-compile"
    ]
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def original_slim(folder: Path) -> None:
    """The original article's slimming: no bytecode, no tests, no dist-info."""
    for path in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        doomed = path.suffix in (".pyc", ".pyo") or path.name in ("__pycache__", "tests")
        if path.exists() and (doomed or path.name.endswith(".dist-info")):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def smoke_line(site: Path, packages: list, target: Target) -> tuple[int, int, int]:
    """(packages with nothing broken, packages, packages whose imports could not run here)."""
    interpreter = find_interpreter(target.python_version)
    result = smoke_test(site, packages, target, interpreter)
    if not result.ran:
        return 0, len(packages), len(packages)
    broken = {line.split(":", 1)[0] for line in result.failures}
    return len(packages) - len(broken), len(packages), len(result.skipped)


def cold_start_line(requirements: Path, target: Target, root: Path) -> None:
    """Import time from our precompiled layer against the naive one (an option, not a default)."""
    interpreter = find_interpreter(target.python_version)
    if interpreter is None or interpreter.machine != target.machine:
        print(f"# cold-start proxy not measured: no python{target.python_version} for {target}")
        return
    request = BuildRequest("bench", requirements, target, precompile=True)
    ours = build_layer(request, root / "cache", interpreter=interpreter)
    modules = ["numpy", "pydantic", "requests"]
    mine = import_seconds(ours.site, modules, interpreter, runs=5)
    theirs = import_seconds(root / "naive", modules, interpreter, runs=5)
    line(
        "import_s_precompiled_option_vs_naive",
        mine,
        theirs,
        theirs / mine,
        ">=1.2",
        theirs / mine >= 1.2,
    )


def line(claim: str, ours: float, anchor: float, ratio: float, goal: str, ok: bool) -> None:
    verdict = "PASS" if ok else "FAIL"
    print(f"{claim}: ours={ours:.2f} anchor={anchor:.2f} ratio={ratio:.2f} goal={goal} {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="x86_64", choices=["x86_64", "arm64"])
    args = parser.parse_args()
    target = Target("python3.12", args.arch)
    with tempfile.TemporaryDirectory(prefix="layers-bench-") as scratch:
        root = Path(scratch)
        requirements = root / "requirements.txt"
        requirements.write_text(REQUIREMENTS)
        naive_seconds = naive(requirements, target, root / "naive")
        packages = read_packages(root / "naive")
        naive_zip = write_archive(root / "naive", root / "naive.zip")
        shutil.copytree(root / "naive", root / "original")
        original_slim(root / "original")
        original_zip = write_archive(root / "original", root / "original.zip")
        ours = build_layer(BuildRequest("bench", requirements, target), root / "cache")
        started = time.perf_counter()
        again = build_layer(BuildRequest("bench", requirements, target), root / "cache")
        cached_seconds = time.perf_counter() - started
        rebuilt_seconds = naive(requirements, target, root / "naive-again")

        ok, total, skipped = smoke_line(ours.site, list(ours.packages), target)
        ran = skipped == 0
        naive_ok, _, _ = smoke_line(root / "naive", packages, target)
        original_ok, _, _ = smoke_line(root / "original", packages, target)
        mb = 2**20
        names = ", ".join(f"{p.name} {p.version}" for p in ours.packages)
        print(f"# target {target}; {total} packages: {names}")
        print(
            f"# zipped MB: naive {naive_zip.zipped / mb:.2f}, "
            f"original design {original_zip.zipped / mb:.2f}, ours {ours.archive.zipped / mb:.2f}; "
            f"unzipped MB: naive {naive_zip.unzipped / mb:.2f}, "
            f"ours {ours.archive.unzipped / mb:.2f}"
        )
        if skipped:
            print(f"# smoke test: {skipped} packages' imports not run here (compiled for {target})")
        print(
            f"# packages with working metadata and imports: ours {ok}/{total}, "
            f"naive {naive_ok}/{total}, original design {original_ok}/{total}"
        )
        ratio = naive_zip.zipped / ours.archive.zipped
        line(
            "zipped_mb_vs_naive_pip_target",
            ours.archive.zipped / mb,
            naive_zip.zipped / mb,
            ratio,
            f">={GOAL_SIZE:.2f} (<=0.7x) with smoke test passing",
            ratio >= GOAL_SIZE and ran and ok == total,
        )
        line(
            "packages_with_working_metadata_vs_original_slim",
            ok,
            original_ok,
            ok / max(original_ok, 1),
            f"{total}/{total} ours",
            ran and ok == total,
        )
        line(
            "unchanged_rebuild_s_vs_naive",
            cached_seconds,
            rebuilt_seconds,
            rebuilt_seconds / max(cached_seconds, 1e-6),
            ">=10 (served from cache)",
            again.cached and rebuilt_seconds / max(cached_seconds, 1e-6) >= 10,
        )
        cold_start_line(requirements, target, root)
        print(
            f"# naive first install {naive_seconds:.1f} s "
            "(includes downloads unless pip's cache had them)"
        )


if __name__ == "__main__":
    main()
