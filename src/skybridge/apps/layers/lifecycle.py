"""Layer versions over their life: publish (and grant), prune, and who uses what.

* Publish is idempotent: when the newest version already carries the build's digest (in its
  description), nothing new is published. Grants are per version on Lambda, so every publish
  grants the configured accounts and organisations again.
* Prune keeps the newest ``keep`` versions and every version a function still references,
  ``$LATEST`` or published (an alias may route to it; a deleted version cannot be attached
  again on redeploy). Versions a function uses are never deleted.
* Usage lists, per layer version, the function versions that reference it, and which functions
  run an older version than the newest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from typing import Any

from skybridge.apps.layers.targets import UNZIPPED_LIMIT
from skybridge.backends.functions import FunctionPlatform, Grant, LayerVersion, parse_layer_arn
from skybridge.core.errors import Conflict, ValidationError

DIGEST_MARK = "sha256:"
UNZIPPED_MARK = re.compile(r"\bunzipped:(\d+)\b")


@dataclass(frozen=True)
class Published:
    """The outcome of a publish: the version, whether it is new, the grants it carries."""

    layer: LayerVersion
    new: bool
    grants: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "arn": self.layer.arn,
            "version": self.layer.version,
            "new": self.new,
            "grants": list(self.grants),
            "code_size": self.layer.code_size,
        }


def grants_for(accounts: Iterable[str], organizations: Iterable[str]) -> list[Grant]:
    """Grants of the configured accounts and organisations, with stable statement ids."""
    found = [Grant(f"skybridge-account-{a}", a) for a in accounts]
    return found + [Grant(f"skybridge-org-{o}", "*", o) for o in organizations]


def publish(
    platform: FunctionPlatform,
    name: str,
    content: bytes,
    digest: str,
    *,
    unzipped: int | None = None,
    runtimes: Sequence[str],
    architectures: Sequence[str],
    grants: Sequence[Grant] = (),
    licence: str | None = None,
) -> Published:
    """Publish ``content`` unless the newest version has ``digest``; grant ``grants``.

    The description records the digest and, when given, the ``unzipped`` size, which
    :func:`check_budget` reads back.
    """
    versions = platform.list_layer_versions(name)
    mark = f"{DIGEST_MARK}{digest}"
    if versions and mark in versions[0].description:
        layer, new = versions[0], False
    else:
        size = f" unzipped:{unzipped}" if unzipped is not None else ""
        description = f"skybridge layer {mark}{size}"
        layer = platform.publish_layer_version(
            name,
            content,
            description=description,
            runtimes=runtimes,
            architectures=architectures,
            license=licence,
        )
        new = True
    return Published(layer, new, tuple(ensure_grants(platform, layer, grants)))


def ensure_grants(
    platform: FunctionPlatform, layer: LayerVersion, grants: Sequence[Grant]
) -> list[str]:
    """Add each grant the version lacks; the statement ids it carries afterwards."""
    have = {g.statement_id for g in platform.layer_grants(layer.name, layer.version)}
    for grant in grants:
        if grant.statement_id not in have:
            with suppress(Conflict):  # granted by a concurrent publish
                platform.add_layer_grant(layer.name, layer.version, grant)
            have.add(grant.statement_id)
    return sorted(have)


@dataclass(frozen=True)
class PruneStep:
    version: int
    arn: str
    action: str  # keep | delete
    reason: str


@dataclass
class PrunePlan:
    layer: str
    keep: int
    dry_run: bool
    steps: list[PruneStep] = field(default_factory=list)

    @property
    def deleted(self) -> list[int]:
        return [s.version for s in self.steps if s.action == "delete"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "keep": self.keep,
            "dry_run": self.dry_run,
            "deleted": self.deleted,
            "steps": [asdict(s) for s in self.steps],
        }


def prune(platform: FunctionPlatform, name: str, *, keep: int, dry_run: bool = True) -> PrunePlan:
    """Delete versions of ``name`` beyond the newest ``keep`` that no function references."""
    if keep < 1:
        raise ValidationError("keep at least one version (--keep 1 or more)")
    versions = platform.list_layer_versions(name)
    references = platform.layer_references()
    plan = PrunePlan(name, keep, dry_run)
    for index, layer in enumerate(versions):
        users = references.get(layer.arn, [])
        if index < keep:
            plan.steps.append(
                PruneStep(layer.version, layer.arn, "keep", f"one of the newest {keep}")
            )
        elif users:
            names = ", ".join(sorted(f"{u.name}:{u.version}" for u in users)[:10])
            plan.steps.append(PruneStep(layer.version, layer.arn, "keep", f"in use by {names}"))
        else:
            plan.steps.append(PruneStep(layer.version, layer.arn, "delete", "old and unused"))
    if not dry_run:
        for step in plan.steps:
            if step.action == "delete":
                platform.delete_layer_version(name, step.version)
    return plan


def usage(platform: FunctionPlatform, layers: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One row per layer version: its users and whether they lag behind the newest."""
    references = platform.layer_references()
    rows = []
    for name in sorted(layers if layers is not None else platform.list_layers()):
        versions = platform.list_layer_versions(name)
        newest = versions[0].version if versions else 0
        for layer in versions:
            users = sorted(f"{u.name}:{u.version}" for u in references.get(layer.arn, []))
            rows.append(
                {
                    "layer": name,
                    "version": layer.version,
                    "arn": layer.arn,
                    "code_size": layer.code_size,
                    "newest": layer.version == newest,
                    "users": users,
                    "created": layer.created,
                }
            )
    return rows


def with_layer(current: Sequence[str], arn: str) -> list[str]:
    """``current`` with ``arn`` in place of another version of the same layer (or added)."""
    base = parse_layer_arn(arn)[0]
    replaced = [arn if parse_layer_arn(a)[0] == base else a for a in current]
    return replaced if arn in replaced else [*replaced, arn]


def check_budget(platform: FunctionPlatform, layers: Sequence[str], function_bytes: int) -> int:
    """The unzipped bytes of ``layers`` plus the function's; ``ValidationError`` over 250 MB.

    Sizes come from the descriptions :func:`publish` writes; a layer published otherwise counts
    with its zipped size, a lower bound (Lambda itself refuses the update when over).
    """
    total = function_bytes
    for arn in layers:
        _, name, version = parse_layer_arn(arn)
        found = [v for v in platform.list_layer_versions(name) if v.version == version]
        mark = UNZIPPED_MARK.search(found[0].description) if found else None
        total += int(mark.group(1)) if mark else (found[0].code_size if found else 0)
    if total > UNZIPPED_LIMIT:
        raise ValidationError(
            f"the function and its layers would take {total / 2**20:.1f} MB unzipped, over "
            "Lambda's 250 MB",
            hint="slim the layers (or the function), or move to a container image",
        )
    return total
