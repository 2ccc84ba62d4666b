"""Backend URLs: parsing, relative paths and masking of credentials."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from skybridge.core.errors import ConfigError
from skybridge.core.secret import MASK

_SENSITIVE_PARAMS = ("password", "secret", "token", "key", "passphrase", "credential")


@dataclass(frozen=True)
class BackendURL:
    """A parsed backend URL such as ``redis://:pw@127.0.0.1:6379/0?ssl=1``.

    ``rest`` is everything after ``scheme://`` without the query, which is what
    path-based backends (``file://``, ``local://``) use as their location.
    """

    raw: str
    scheme: str
    rest: str
    host: str | None
    port: int | None
    username: str | None
    password: str | None
    path: str
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str, *, setting: str | None = None) -> BackendURL:
        if "://" not in url:
            raise ConfigError(
                f"'{mask_url(url)}' is not a backend URL",
                setting=setting,
                hint="write it as scheme://location, for example sqlite:///.skybridge/kv.db",
            )
        scheme, _, rest = url.partition("://")
        if not scheme:
            raise ConfigError("backend URL has no scheme", setting=setting)
        rest_no_query, _, query = rest.partition("?")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(
                f"bad backend URL '{mask_url(url)}': {exc}", setting=setting
            ) from None
        return cls(
            raw=url,
            scheme=scheme.lower(),
            rest=unquote(rest_no_query),
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            path=unquote(parts.path),
            params=dict(parse_qsl(query, keep_blank_values=True)),
        )

    def location(self, *, base: Path | None = None) -> Path:
        """The filesystem location of a path-based URL (``file://data`` is relative)."""
        path = Path(self.rest).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        return path

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.params.get(name)
        if value is None:
            return default
        return value.lower() in {"1", "true", "yes", "on"}


def mask_url(url: str) -> str:
    """Return ``url`` with any password and sensitive query values replaced by the mask."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if not parts.password and not parts.query:
        return url
    if parts.password:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [
            (k, MASK if any(s in k.lower() for s in _SENSITIVE_PARAMS) else v) for k, v in pairs
        ]
        query = urlencode(masked, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
