"""The layers app's Python API: build, check, publish, prune, report usage, roll out.

::

    from skybridge.apps.layers import api
    report = api.build(ctx, "deps", Path("requirements.txt"), runtime="python3.12",
                       architecture="arm64")
    report.to_dict()["problems"]          # [] when it may ship
    api.publish(ctx, "deps")              # -> Published (idempotent by digest, grants again)
    api.prune(ctx, "deps", dry_run=False) # keeps the newest N and every version in use

The CLI, the routes, the page and the jobs are thin adapters over these functions, which check
every name they are given (:func:`~skybridge.backends.functions.checks.check_layer_name`, the
platforms' own check) before it reaches a store or the platform.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skybridge.apps.kit.context import AppContext
from skybridge.apps.layers import report as records
from skybridge.apps.layers import rollout as rollouts
from skybridge.apps.layers.build import BuildRequest, Progress, build_layer
from skybridge.apps.layers.bytecode import cold_start
from skybridge.apps.layers.config import LayersConfig
from skybridge.apps.layers.install import Sources
from skybridge.apps.layers.interpreters import Interpreter, find_interpreter
from skybridge.apps.layers.lifecycle import PrunePlan, Published, grants_for
from skybridge.apps.layers.lifecycle import prune as prune_versions
from skybridge.apps.layers.lifecycle import publish as publish_version
from skybridge.apps.layers.lifecycle import usage as usage_rows
from skybridge.apps.layers.metrics import layer_metrics
from skybridge.apps.layers.report import MB, LayerReport
from skybridge.apps.layers.scan import ScanPolicy, scan_layer
from skybridge.apps.layers.smoke import smoke_test
from skybridge.apps.layers.targets import Target
from skybridge.backends.functions import parse_layer_arn
from skybridge.backends.functions.base import LAYER_NAME
from skybridge.backends.functions.checks import LAYER_NAME_RULE, check_layer_name
from skybridge.core.arguments import as_path
from skybridge.core.errors import NotFound, ValidationError, shown

Context = AppContext[LayersConfig]
#: A layer's name, as Lambda's ``PublishLayerVersion`` allows it (the function platforms'
#: own rule); function and alias names are held to it too (the routes check it, and so does
#: every function here).
NAME = LAYER_NAME.pattern
#: The same rule in words, for people.
NAME_RULE = LAYER_NAME_RULE
#: A CloudWatch alarm's name: 1-255 characters, no control characters.
_ALARM = re.compile(r"[^\x00-\x1f\x7f]{1,255}")


def check_layer_arn(arn: str) -> str:
    """``arn`` if it is a layer version ARN (``...:layer:NAME:VERSION``), else ValidationError."""
    try:
        parse_layer_arn(arn)
    except ValueError:
        raise ValidationError(
            f"layer {shown(arn, 200)} is not a layer version ARN",
            hint="give arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION (see layers usage)",
        ) from None
    return arn


def check_alarm(alarm: str | None) -> str | None:
    """``alarm`` if CloudWatch would accept it as an alarm name (or None), else ValidationError."""
    if alarm is not None and not _ALARM.fullmatch(alarm):
        raise ValidationError(
            f"alarm name {shown(alarm, 100)} is not allowed",
            hint="use 1-255 characters and no control characters, as CloudWatch does",
        )
    return alarm


def target_of(ctx: Context, runtime: str | None = None, architecture: str | None = None) -> Target:
    return Target(runtime or ctx.config.runtime, architecture or ctx.config.architecture)


def interpreter_for(ctx: Context, target: Target) -> Interpreter | None:
    return find_interpreter(target.python_version, ctx.config.interpreters)


def cache_dir(ctx: Context) -> Path:
    return ctx.config.cache_dir or ctx.data_dir / "layers"


def build(
    ctx: Context,
    name: str,
    requirements: str | os.PathLike[str],
    *,
    runtime: str | None = None,
    architecture: str | None = None,
    precompile: bool | None = None,
    smoke: bool = True,
    scan: bool = True,
    code: str | os.PathLike[str] | None = None,
    measure_cold_start: bool = False,
    fail_on: str | None = None,
    sources: Sources | None = None,
    progress: Progress | None = None,
) -> LayerReport:
    """Build layer ``name`` for the target, then smoke-test, scan and time it; record it.

    ``requirements`` (the requirements file) and ``code`` (the function's code, scanned too)
    are paths, as ``str`` or ``Path``. ``sources`` replaces where pip looks for wheels
    (default: ``[layers]`` find_links, index_url, no_index, then pip's own configuration).
    """
    check_layer_name(name)
    requirements = as_path(requirements, "requirements")
    code = None if code is None else as_path(code, "code")
    config = ctx.config
    target = target_of(ctx, runtime, architecture)
    interpreter = interpreter_for(ctx, target)
    request = BuildRequest(
        name,
        requirements,
        target,
        sources or Sources(tuple(config.find_links), config.index_url, config.no_index),
        config.precompile if precompile is None else precompile,
        config.strip,
        tuple(config.keep_files),
        int(config.function_mb * MB),
    )
    result = build_layer(request, cache_dir(ctx), interpreter=interpreter, progress=progress)
    found = LayerReport(result)
    if smoke:
        _tell(progress, "smoke", "")
        found.smoke = smoke_test(result.site, list(result.packages), target, interpreter)
    if scan:
        _tell(progress, "scan", "")
        policy = ScanPolicy(
            fail_on or config.fail_on, config.unknown_severity, tuple(config.deny_licences)
        )
        found.scan = scan_layer(result.packages, policy, database=config.advisories, code=code)
    if measure_cold_start:
        found.cold_start = _cold_start(found, interpreter, progress)
    with ctx.connect("kv") as store:
        records.save(store, found.to_dict())
    return found


def _tell(progress: Progress | None, stage: str, detail: str) -> None:
    if progress is not None:
        progress(stage, detail)


def _cold_start(
    found: LayerReport, interpreter: Interpreter | None, progress: Progress | None
) -> Any:
    if interpreter is None or found.smoke is None or not found.smoke.ran:
        return None
    modules = [
        m
        for row in found.smoke.packages
        if not row["skipped"]
        for m, status in row["modules"].items()
        if status == "ok"
    ]
    if not modules:
        return None
    _tell(progress, "cold-start", ", ".join(modules[:5]))
    return cold_start(found.build.site, modules, interpreter)


def latest(ctx: Context, name: str) -> dict[str, Any]:
    """The newest build record of layer ``name`` (NotFound when it was never built)."""
    check_layer_name(name)
    with ctx.connect("kv") as store:
        return records.latest(store, name)


def builds(ctx: Context) -> list[dict[str, Any]]:
    """The newest build record of every layer."""
    with ctx.connect("kv") as store:
        return sorted(records.all_latest(store), key=lambda r: str(r["name"]))


def history(ctx: Context, name: str) -> list[dict[str, Any]]:
    check_layer_name(name)
    with ctx.connect("kv") as store:
        return records.history(store, name)


def publish(ctx: Context, name: str, *, force: bool = False) -> Published:
    """Publish the newest build of ``name``: refused while it has problems unless ``force``."""
    record = latest(ctx, name)
    if record["problems"] and not force:
        raise ValidationError(
            f"layer {name} must not ship: {'; '.join(record['problems'])}",
            hint="fix the build, or publish with --force",
        )
    archive = Path(record["zip"])
    if not archive.is_file():
        raise NotFound(
            f"the zip of layer {name} is gone from the build cache ({archive})",
            hint=f"build it again: skybridge layers build {name} -r ...",
        )
    licences = sorted({str(p["licence"]) for p in record["packages"] if p["licence"]})
    with ctx.connect("functions") as platform:
        published = publish_version(
            platform,
            name,
            archive.read_bytes(),
            record["digest"],
            unzipped=int(record["unzipped"]),
            runtimes=[record["runtime"]],
            architectures=[record["architecture"]],
            grants=grants_for(ctx.config.share_accounts, ctx.config.share_organizations),
            licence=", ".join(licences)[:512] or None,
        )
        platform.put_metrics(ctx.config.metrics_namespace, layer_metrics(record))
    return published


def prune(ctx: Context, name: str, *, keep: int | None = None, dry_run: bool = True) -> PrunePlan:
    """Plan (``dry_run``) or delete the versions of ``name`` beyond the newest ``keep`` that
    no function uses.

    Raises:
        NotFound: ``name`` has no published version.
    """
    check_layer_name(name)
    with ctx.connect("functions") as platform:
        if not platform.list_layer_versions(name):
            raise NotFound(
                f"layer {name!r} has no published version", hint="see: skybridge layers usage"
            )
        return prune_versions(platform, name, keep=keep or ctx.config.keep, dry_run=dry_run)


def usage(ctx: Context, layers: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every version of ``layers`` (default: all) and the function versions using it."""
    for name in layers or ():
        check_layer_name(name)
    with ctx.connect("functions") as platform:
        return usage_rows(platform, layers)


def start_rollout(
    ctx: Context,
    function: str,
    alias: str,
    layer_arn: str,
    *,
    steps: Sequence[float] | None = None,
    alarm: str | None = None,
) -> rollouts.Rollout:
    """Send the first step of ``alias``'s traffic to a new version using ``layer_arn``."""
    _check_rollout(function, alias)
    check_layer_arn(layer_arn)
    check_alarm(alarm)
    with ctx.connect("functions") as platform, ctx.connect("kv") as store:
        return rollouts.start(
            platform,
            store,
            function=function,
            alias=alias,
            layer_arn=layer_arn,
            steps=steps or ctx.config.rollout_steps,
            function_bytes=int(ctx.config.function_mb * MB),
            alarm=alarm,
        )


def _check_rollout(function: str, alias: str) -> None:
    check_layer_name(function, what="function")
    check_layer_name(alias, what="alias")


def advance_rollout(ctx: Context, function: str, alias: str) -> rollouts.Rollout:
    """Next step of the rollout on ``function:alias`` (a rollback when its alarm fires)."""
    _check_rollout(function, alias)
    with ctx.connect("functions") as platform, ctx.connect("kv") as store:
        return rollouts.advance(platform, store, function, alias)


def roll_back(ctx: Context, function: str, alias: str, reason: str = "by hand") -> rollouts.Rollout:
    """All of ``alias``'s traffic back to the version before the rollout."""
    _check_rollout(function, alias)
    with ctx.connect("functions") as platform, ctx.connect("kv") as store:
        return rollouts.roll_back(platform, store, function, alias, reason)


def list_rollouts(ctx: Context) -> list[rollouts.Rollout]:
    with ctx.connect("kv") as store:
        return rollouts.list_rollouts(store)
