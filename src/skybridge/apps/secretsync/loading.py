"""Reading a mapping table from TOML, YAML or JSON, with errors that say what to fix.

A table may name ``secrets`` without declaring it: the ``[backends] secrets`` of skybridge.toml
(:func:`service_backends`). The CLI, the service and handlers pass those backends in; a Python
caller who passes none gets them from the settings (``skybridge.toml`` and the environment),
read only when the table names such a backend.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import ValidationError as PydanticValidationError

from skybridge.apps.secretsync.model import MappingTable
from skybridge.apps.secretsync.parsed_tables import ParsedTables
from skybridge.core.errors import ValidationError

if TYPE_CHECKING:
    from skybridge.apps.kit.context import AppContext

TableFormat = Literal["toml", "yaml", "json"]
_SUFFIXES: dict[str, TableFormat] = {
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
}
#: The backends of skybridge.toml a table may name without declaring them.
SERVICE_BACKENDS = ("secrets",)


def service_backends(ctx: AppContext[Any]) -> dict[str, str]:
    """The backends of skybridge.toml a mapping table may name without declaring them:
    ``secrets`` (``backends.secrets``)."""
    return {name: ctx.backend_url(name) for name in SERVICE_BACKENDS}


def configured_service_backends() -> dict[str, str]:
    """:func:`service_backends` under the settings the CLI reads (``skybridge.toml`` or
    ``$SKYBRIDGE_CONFIG``, and ``SKYBRIDGE__*`` variables)."""
    # imported here: only a table that borrows a backend needs the settings
    from skybridge.apps.kit.context import AppContext

    return service_backends(AppContext.of("secretsync"))


def _where(loc: tuple[int | str, ...], data: Mapping[str, Any]) -> str:
    """``mappings[2] (db).fields`` from a pydantic error location."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]"
            if parts[-1].startswith("mappings["):
                try:
                    name = data["mappings"][item].get("name")
                except (KeyError, IndexError, AttributeError, TypeError):
                    name = None
                if name:
                    parts[-1] += f" ({name})"
        else:
            parts.append(str(item))
    return ".".join(parts) or "table"


class InvalidTable(ValidationError):
    """A mapping table that does not validate; ``problems`` has one line per setting."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "mapping table is invalid: " + "; ".join(problems),
            hint="fix each setting named in the problems",
        )
        self.problems = problems


def _referenced(data: Mapping[str, Any]) -> set[str]:
    """The backend names the mappings and credentials of a parsed table refer to."""
    names: set[str] = set()
    mappings = data.get("mappings")
    for mapping in mappings if isinstance(mappings, list) else []:
        for side in ("source", "target"):
            pointer = mapping.get(side) if isinstance(mapping, Mapping) else None
            if isinstance(pointer, Mapping) and isinstance(pointer.get("backend"), str):
                names.add(pointer["backend"])
    backends = data.get("backends")
    for spec in backends.values() if isinstance(backends, Mapping) else []:
        found = spec.get("credentials_from") if isinstance(spec, Mapping) else None
        if isinstance(found, Mapping) and isinstance(found.get("backend"), str):
            names.add(found["backend"])
    return {n for n in names if "://" not in n}


def _borrowed(data: Mapping[str, Any], given: Mapping[str, str] | None) -> dict[str, str]:
    """The backends a table names without declaring them, taken from ``given`` (``None``: from
    the settings, read only when the table names one of :data:`SERVICE_BACKENDS`)."""
    own = data.get("backends")
    if own is not None and not isinstance(own, Mapping):
        return {}  # validation reports the malformed [backends]
    missing = sorted(name for name in _referenced(data) if name not in (own or {}))
    if given is None:
        if not any(name in SERVICE_BACKENDS for name in missing):
            return {}
        given = configured_service_backends()
    return {name: given[name] for name in missing if name in given}


def table_from_dict(
    data: Mapping[str, Any], service_backends: Mapping[str, str] | None = None
) -> MappingTable:
    """Validate a parsed table. A backend name the table's own ``[backends]`` lacks is looked
    up in ``service_backends``, skybridge.toml's backends (``secrets`` is ``backends.secrets``).
    When it is ``None``, they come from the settings (:func:`configured_service_backends`), as
    the CLI reads them; pass ``{}`` to borrow none.

    Raises:
        InvalidTable: with one line per problem, each naming the setting to fix.
        ConfigError: the table names ``secrets`` and the settings cannot be read.
    """
    data = dict(data)
    taken = _borrowed(data, service_backends)
    if taken:
        data["backends"] = {**(data.get("backends") or {}), **taken}
    try:
        table = MappingTable.model_validate(data)
    except PydanticValidationError as exc:
        lines = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{_where(tuple(error['loc']), data)}: {message}")
        raise InvalidTable(lines) from None
    for name in taken:
        table.backends[name].borrowed_from(f"backends.{name}")
    return table


def parse_table(
    text: str, fmt: TableFormat = "toml", service_backends: Mapping[str, str] | None = None
) -> MappingTable:
    """Parse and validate a table given as text in ``fmt`` (see :func:`table_from_dict`)."""
    try:
        if fmt == "toml":
            data: Any = tomllib.loads(text)
        elif fmt == "yaml":
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, ValueError) as exc:
        raise ValidationError(f"mapping table is not valid {fmt}: {exc}") from None
    if not isinstance(data, Mapping):
        raise ValidationError(f"mapping table must be a {fmt} table/object at the top level")
    return table_from_dict(data, service_backends)


def _read_file(path: str | Path) -> tuple[str, TableFormat]:
    """The text of a table file and its format (from the suffix)."""
    file = Path(path)
    fmt = _SUFFIXES.get(file.suffix.lower())
    if fmt is None:
        raise ValidationError(
            f"cannot tell the format of {file}", hint="name it .toml, .yaml, .yml or .json"
        )
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot read mapping table {file}: {exc.strerror}") from None
    return text, fmt


def load_table(path: str | Path, service_backends: Mapping[str, str] | None = None) -> MappingTable:
    """Load a table from a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file (see
    :func:`table_from_dict`)."""
    text, fmt = _read_file(path)
    return parse_table(text, fmt, service_backends)


def parse_table_text(text: str, service_backends: Mapping[str, str] | None = None) -> MappingTable:
    """A table given inline (an environment variable): JSON if it starts with ``{``, else TOML."""
    stripped = text.strip()
    return parse_table(stripped, _inline_format(stripped), service_backends)


def _inline_format(stripped: str) -> TableFormat:
    return "json" if stripped.startswith("{") else "toml"


#: Tables parsed by :func:`cached_load_table` and :func:`cached_parse_table_text`.
_PARSED = ParsedTables()


def cached_load_table(path: str | Path, service_backends: Mapping[str, str]) -> MappingTable:
    """:func:`load_table`, parsed again only when the file's text (or ``service_backends``)
    changed since a previous call: the service finds the table on every request.

    The file is read each time (a few hundred KB at most, far cheaper than parsing it), so an
    edit is seen at once whatever the file system's timestamp resolution. Errors are raised
    as :func:`load_table` raises them, every time (invalid tables are not kept).
    """
    text, fmt = _read_file(path)
    return _PARSED.get(
        text, fmt, service_backends, lambda: parse_table(text, fmt, service_backends)
    )


def cached_parse_table_text(text: str, service_backends: Mapping[str, str]) -> MappingTable:
    """:func:`parse_table_text`, kept like :func:`cached_load_table`'s tables."""
    stripped = text.strip()
    fmt = _inline_format(stripped)
    return _PARSED.get(
        stripped, fmt, service_backends, lambda: parse_table(stripped, fmt, service_backends)
    )
