"""Backend URLs: parsing, relative paths and masking of credentials."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from skybridge.core.errors import ConfigError
from skybridge.core.path_secrets import secret_segments
from skybridge.core.secret import MASK

_SENSITIVE_PARAMS = ("password", "secret", "token", "key", "passphrase", "credential")
# Short names that would match too much as substrings: Azure / Power Automate ``sig``.
_SENSITIVE_EXACT = frozenset({"sig", "signature", "sas"})
# Names that hold where a credential is, or a number, not the credential: ``api_key_env``,
# ``key_file``, ``secret_id``, ``max_tokens``.
_POINTER_SUFFIXES = ("_env", "_file", "_path", "_id", "_ids", "_name", "_ocid", "_arn")
_COUNT_PREFIXES = ("max_", "min_", "num_")
#: OCI resource ids (a vault's key, a tenancy) name things, they grant nothing.
_OCID_PREFIX = "ocid1."
#: A URL inside longer text (a TOML table of backends, a message).
_URL_IN_TEXT = re.compile(r"""[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>`]+""")


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
            netloc = parts.netloc.rpartition("@")[2]
            # An ARN or OCID-like location ("sns://arn:aws:sns:...") is opaque: no host or port.
            opaque = netloc.count(":") > 1 and not netloc.startswith("[")
            port = None if opaque else parts.port
        except ValueError as exc:
            raise ConfigError(
                f"bad backend URL '{mask_url(url)}': {exc}", setting=setting
            ) from None
        return cls(
            raw=url,
            scheme=scheme.lower(),
            rest=unquote(rest_no_query),
            host=None if opaque else parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            path=unquote(parts.path),
            params=dict(parse_qsl(query, keep_blank_values=True)),
        )

    def location(self, *, base: Path | None = None) -> Path:
        """The filesystem location of a path-based URL (``file://data`` is relative).

        Raises:
            ConfigError: the URL carries a password (``local://user:pw@dir``): a path-based
                backend has no use for one, and it must not become a folder's name.
        """
        if self.password is not None:
            raise ConfigError(
                f"'{mask_url(self.raw)}' holds a password, but {self.scheme}:// takes a path",
                hint=f"write {self.scheme}://path/to/folder, without user:password@",
            )
        path = Path(self.rest).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        return path

    def sqlite_path(self) -> str:
        """The database file of a ``sqlite://`` URL, by SQLAlchemy's convention.

        ``sqlite:///rel/kv.db`` (three slashes) is relative to the working directory,
        ``sqlite:////abs/kv.db`` (four) absolute; ``sqlite://`` and ``sqlite:///:memory:`` give
        ``":memory:"``.
        """
        rest = self.rest
        if rest in ("", ":memory:", "/:memory:"):
            return ":memory:"
        if not rest.startswith("/") or rest == "/":
            raise ConfigError(
                f"cannot tell which file {self.scheme}://{rest} means",
                hint=f"write {self.scheme}:///relative/file.db (three slashes) "
                f"or {self.scheme}:////abs/file.db (four)",
            )
        return rest[1:]

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.params.get(name)
        if value is None:
            return default
        return value.lower() in {"1", "true", "yes", "on"}


def mask_url(url: str) -> str:
    """Return ``url`` with its credentials replaced by the mask.

    Masks the password, query values whose names mark a credential (``password``, ``token``,
    ``sig``...) and path segments that are credentials: webhook tokens of known shapes (Slack,
    Discord, Teams / Office 365, ``.../T000/B000/SECRET`` on any host) and long random-looking
    segments (see :mod:`skybridge.core.path_secrets`).

    Works on malformed URLs too (a password holding an unencoded ``/`` or ``@``, a scheme with
    a space, no scheme at all): the userinfo is everything before the last ``@`` of the
    location, and whatever follows its first ``:`` is masked.
    """
    head, sep, query = url.partition("?")
    scheme, has_scheme, location = head.rpartition("://") if "://" in head else ("", "", head)
    masked = f"{scheme}{has_scheme}{_mask_location(location)}"
    if sep:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked_pairs = [(k, _mask_param(k, v)) for k, v in pairs]
        masked += "?" + urlencode(masked_pairs, safe="*:/@")
    return masked


def _mask_location(location: str) -> str:
    authority = location.partition("/")[0]
    # A well-formed authority holds its own '@'; otherwise the password may hold a '/'.
    userinfo, at, hostpart = (authority if "@" in authority else location).rpartition("@")
    prefix = ""
    if at and ":" in userinfo:
        prefix = f"{userinfo.split(':', 1)[0]}:{MASK}@"
        rest = hostpart + location[len(authority) :] if "@" in authority else hostpart
    else:
        rest = location
    host, slash, path = rest.partition("/")
    return f"{prefix}{host}{slash}{_mask_path(host, path)}"


def _mask_path(host: str, path: str) -> str:
    segments = path.split("/")
    hidden = secret_segments(host, segments)
    return "/".join(MASK if i in hidden else s for i, s in enumerate(segments))


def mask_urls_in(text: str) -> str:
    """``text`` with the credentials of every URL in it masked: a value that is one URL is
    masked whole (see :func:`mask_url`), longer text (a TOML table naming several backends)
    URL by URL, the rest of it kept."""
    if "://" not in text:
        return text
    if not any(c.isspace() for c in text):
        return mask_url(text)
    return _URL_IN_TEXT.sub(lambda found: mask_url(found.group(0)), text)


def _mask_param(name: str, value: str) -> str:
    if _is_sensitive_param(name) and not value.startswith(_OCID_PREFIX):
        return MASK
    return mask_url(value) if "://" in value else value  # endpoint_url=https://u:pw@host


def _is_sensitive_param(name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith(_POINTER_SUFFIXES) or lowered.startswith(_COUNT_PREFIXES):
        return False
    return lowered in _SENSITIVE_EXACT or any(s in lowered for s in _SENSITIVE_PARAMS)
