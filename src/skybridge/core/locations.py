"""Where files live on the host, left out of what a caller without ``service:locations`` sees.

Backends, errors and pages name files: ``the stream log /srv/app/.skybridge/streams.db is
damaged``, ``sqlite:////srv/app/kv.db``. Knowing the host's folders helps an attacker and no
``read`` user needs them, so the service shows them only to holders of ``service:locations``
(admin) and everyone else gets :func:`hide_locations`: the data folder as ``<data_dir>``, other
absolute paths as ``/.../<file name>``, in URLs of file-backed schemes and in free text alike
(quoted paths may hold spaces). The server's own log keeps the full text.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any

#: URL schemes whose address is a path on the host (``sqlite+pysqlite://`` too).
FILE_SCHEMES = ("sqlite", "file", "duckdb", "embedded", "local")
_URL = re.compile(rf"\b((?:{'|'.join(FILE_SCHEMES)})(?:\+\w+)?)://([^\s'\"<>]*)", re.IGNORECASE)
#: A quoted absolute path (it may hold spaces).
_QUOTED = re.compile(r"(['\"])(/[^'\"\n]*/[^'\"\n]*)\1")
#: The folders of an unquoted absolute path (``/srv/app/`` of ``open /srv/app/x.db``); a URL's
#: ``//host/`` and a ``host:port/db`` are not paths (what precedes them is not a space).
_FOLDERS = re.compile(r"(?<![\w:/.<>-])(?!/(?:api|ui|static|docs)/)(?:/[^\s/'\"?#<>]+)+/")
HIDDEN = "/.../"


def _short(path: str) -> str:
    """An absolute ``path`` as ``/.../<last part>``."""
    return HIDDEN + path.rstrip("/").rsplit("/", 1)[-1]


def _url(match: re.Match[str]) -> str:
    scheme, rest = match.group(1), match.group(2)
    path, sep, query = rest.partition("?")
    base = scheme.lower().partition("+")[0]
    root = "//" if base in ("sqlite", "duckdb") else "/"  # sqlite:////abs, file:///abs
    if path.startswith(root) and "<data_dir>" not in path and path.count("/") > len(root):
        path = root[:-1] + _short(path)
    return f"{scheme}://{path}{sep}{query}"


def hide_locations(text: str, data_dir: Path) -> str:
    """``text`` without the host's folders (see the module's docstring)."""
    homes = {str(data_dir.resolve())}
    if str(data_dir) not in ("", ".", "/"):
        homes.add(str(data_dir))
    for home in sorted(homes, key=len, reverse=True):
        # the folder as a whole path, not ``data`` in "the costs data folder" nor the start of
        # ``/srv/.skybridge-old``: an absolute one whole, a relative one as a path's start
        if home.startswith("/"):
            before, after = r"(?<![\w.@-])", r"(?=/|$|[\s'\"),;:?#])"
        else:
            before, after = r"(?<![\w.@/-])", "(?=/)"
        text = re.sub(f"{before}{re.escape(home)}{after}", "<data_dir>", text)
    text = _URL.sub(_url, text)
    text = _QUOTED.sub(lambda m: m.group(1) + _short(m.group(2)) + m.group(1), text)
    return _FOLDERS.sub(HIDDEN, text)


#: Keys of the failure text apps keep and list again (a mapping's ``last_error``, a sync
#: outcome's ``detail``, a dead letter's or batch's ``error``, a planned action's or skipped
#: document's ``reason``): hidden in rows and answers too.
ERROR_KEYS = frozenset({"error", "last_error", "detail", "hint", "replay_error", "reason"})
#: Keys whose text is a place on the host or a backend URL naming one (rag's ``vectors`` store
#: and document ``sources``, a layer build's ``zip`` and smoke-test ``interpreter``, a file's
#: ``path``): hidden in answers like the failure text.
LOCATION_KEYS = frozenset({"vectors", "sources", "source", "zip", "interpreter", "path", "url"})
_HIDDEN_KEYS = ERROR_KEYS | LOCATION_KEYS
#: The data folder to hide locations by for the caller of the request being answered (``None``:
#: the caller holds ``service:locations``, or no caller is known yet).
HIDDEN_FOR: ContextVar[Path | None] = ContextVar("skybridge_locations_hidden", default=None)


def hide_in(value: Any, data_dir: Path) -> Any:
    """``value`` (JSON-like: dicts, lists, text) with :func:`hide_locations` applied to the
    text under :data:`ERROR_KEYS` and :data:`LOCATION_KEYS` (a string, or a list of strings),
    at any depth; everything else as it is."""
    if isinstance(value, dict):
        return {k: _hidden_value(k, v, data_dir) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [hide_in(v, data_dir) for v in value]
    return value


def _hidden_value(key: str, value: Any, data_dir: Path) -> Any:
    if key in _HIDDEN_KEYS:
        if isinstance(value, str):
            return hide_locations(value, data_dir)
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return [hide_locations(v, data_dir) for v in value]
    return hide_in(value, data_dir)
