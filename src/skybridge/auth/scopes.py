"""What a token may do: roles and scopes.

A token holds roles (``read`` < ``operate`` < ``admin``; each includes the ones before it)
and/or single scopes (``assertions:apply``). Every route and page action needs one scope; each
scope names the weakest role that grants it: skybridge's own scopes below, and each app's in
its manifest (``scopes={"assertions:apply": "admin"}``). ``admin`` grants every scope.

A principal may grant (to a new token) only scopes it holds itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from skybridge.core.errors import ConfigError, PermissionDenied, ValidationError

ROLES: tuple[str, ...] = ("read", "operate", "admin")
#: skybridge's own scopes and the role that grants each.
CORE_SCOPES: dict[str, str] = {
    "service:read": "read",
    "service:locations": "admin",
    "streams:read": "read",
    "streams:replay": "operate",
    "tokens:manage": "admin",
}
#: What tokens made before scopes existed get.
LEGACY_GRANT = frozenset({"admin"})


@dataclass(frozen=True)
class ScopeCatalog:
    """Every known scope and the role that grants it."""

    roles_of: Mapping[str, str]

    @classmethod
    def build(cls, app_scopes: Iterable[Mapping[str, str]]) -> ScopeCatalog:
        """The core scopes and every app's. A scope is defined once: an app declaring one
        already known (a core scope such as ``tokens:manage``, or another app's) would change
        the role it needs, so it is refused.

        Raises:
            ConfigError: a scope declared twice.
        """
        merged = dict(CORE_SCOPES)
        for scopes in app_scopes:
            for scope, role in scopes.items():
                if scope in merged:
                    raise ConfigError(
                        f"scope {scope!r} is declared twice (by skybridge or another app); "
                        "an app may not redefine a scope",
                        setting="skybridge.apps",
                        hint="rename the app: its scopes are '<app name>:<action>'",
                    )
                merged[scope] = role
        return cls(merged)

    def allows(self, granted: frozenset[str], scope: str) -> bool:
        """Whether a principal holding ``granted`` may use ``scope``."""
        if scope in granted or "admin" in granted:
            return True
        needed = self.roles_of.get(scope)
        if needed is None:
            return False
        held = [ROLES.index(r) for r in granted if r in ROLES]
        return bool(held) and max(held) >= ROLES.index(needed)

    def check_grant(self, wanted: Iterable[str], holder: frozenset[str]) -> frozenset[str]:
        """``wanted`` as a grant: each item a role or a known scope the holder may grant.

        Raises:
            ValidationError: a blank or unknown role or scope.
            PermissionDenied: one the holder does not have.
        """
        items = [w.strip() for w in wanted]
        if "" in items:
            raise ValidationError("a role or scope is blank", hint=self.hint())
        grant = frozenset(items)
        if not grant:
            raise ValidationError("give at least one role or scope", hint=self.hint())
        for item in sorted(grant):
            if item not in ROLES and item not in self.roles_of:
                raise ValidationError(f"unknown role or scope {item!r}", hint=self.hint())
            if not self._holds(holder, item):
                raise PermissionDenied(
                    f"you cannot grant {item!r}: your own token does not have it",
                    hint="ask an admin for a token with that scope",
                )
        return grant

    def check_revoke(self, name: str, grant: frozenset[str], holder: frozenset[str]) -> None:
        """Refuse to revoke token ``name`` holding ``grant`` unless ``holder`` holds all of it:
        whoever may not grant a power may not take away a token that has it either.

        Raises:
            PermissionDenied: ``grant`` has a role or scope ``holder`` lacks.
        """
        for item in sorted(grant):
            if (item in ROLES or item in self.roles_of) and not self._holds(holder, item):
                raise PermissionDenied(
                    f"you cannot revoke {name!r}: it holds {item!r}, which your own token does "
                    "not have",
                    hint="ask an admin to revoke it",
                )

    def _holds(self, holder: frozenset[str], item: str) -> bool:
        if item in ROLES:
            return _role_rank(holder) >= ROLES.index(item)
        return self.allows(holder, item)

    def hint(self) -> str:
        scopes = ", ".join(sorted(self.roles_of))
        return f"roles: {', '.join(ROLES)}; scopes: {scopes}"

    def granted_scopes(self, granted: frozenset[str]) -> list[str]:
        """Every known scope ``granted`` allows, sorted."""
        return sorted(s for s in self.roles_of if self.allows(granted, s))


def _role_rank(granted: frozenset[str]) -> int:
    ranks = [ROLES.index(r) for r in granted if r in ROLES]
    return max(ranks, default=-1)


def parse_grant(text: str | None) -> frozenset[str]:
    """A stored grant (``"read assertions:apply"``); ``None`` (a token from before scopes) is
    :data:`LEGACY_GRANT`."""
    if text is None:
        return LEGACY_GRANT
    return frozenset(text.split())


def format_grant(grant: Iterable[str]) -> str:
    return " ".join(sorted(grant))
