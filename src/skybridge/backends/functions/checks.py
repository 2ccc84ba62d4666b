"""Input rules every function platform enforces the same way (moto does not check them)."""

from __future__ import annotations

from collections.abc import Set

from skybridge.backends.functions.base import LAYER_NAME, Alias, Grant
from skybridge.core.errors import ValidationError, shown

#: Lambda routes an alias to its version and at most one more.
MAX_EXTRA_VERSIONS = 1


#: :data:`LAYER_NAME` in words, for people.
LAYER_NAME_RULE = "1-140 letters, digits, dashes or underscores, as Lambda allows"


def check_layer_name(name: str, *, what: str = "layer") -> str:
    """``name`` if Lambda would accept it as a layer (or ``what``) name, else ValidationError:
    checked before anything is built, looked up or changed."""
    if not LAYER_NAME.fullmatch(name):  # match would let a trailing newline through
        raise ValidationError(
            f"{what} name {shown(name, 100)} is not allowed", hint=f"use {LAYER_NAME_RULE}"
        )
    return name


def check_grant(grant: Grant) -> None:
    """An account id (12 digits) or ``*``; an organisation id only with ``*``."""
    principal = grant.principal
    if principal != "*" and not (principal.isdigit() and len(principal) == 12):
        raise ValidationError(f"grant principal {principal!r} must be a 12-digit account id or '*'")
    if grant.organization_id is not None and principal != "*":
        raise ValidationError("an organisation grant needs principal '*'")
    if not grant.statement_id or len(grant.statement_id) > 100:
        raise ValidationError("a grant needs a statement id of at most 100 characters")


def check_alias(alias: Alias, versions: Set[str]) -> None:
    """The versions exist and are numbered; weights lie strictly between 0 and 1."""
    if alias.version not in versions:
        raise ValidationError(f"function {alias.function} has no version {alias.version}")
    if len(alias.weights) > MAX_EXTRA_VERSIONS:
        raise ValidationError("an alias routes to at most one version besides its own")
    for version, weight in alias.weights.items():
        if version not in versions or version == "$LATEST":
            raise ValidationError(f"function {alias.function} has no version {version}")
        if version == alias.version:
            raise ValidationError("the weighted version must differ from the alias's version")
        if not 0.0 < weight < 1.0:
            raise ValidationError(f"weight {weight} must lie between 0 and 1 (exclusive)")
