"""SQL pieces the export mappings are built from: quoting, picking a column among its aliases
(FOCUS's ``NULL`` spelled out reads as null), times, and tags from JSON or from one column per
tag."""

from __future__ import annotations

from collections.abc import Sequence


def q(name: str) -> str:
    """A column name quoted for SQL (names hold ``/``, ``:`` and even backslashes)."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def pick(columns: Sequence[str], *names: str) -> str:
    """The first of ``names`` present, as text with FOCUS's ``NULL`` spelled as null."""
    present = {c.strip(): c for c in columns}
    for name in names:
        if name in present:
            return f"null_text({q(present[name])})"
    return "NULL"


def timestamp(expr: str) -> str:
    # Times are read as TIMESTAMPTZ in a UTC session (see convert.connect): '2023-11-13T10:00Z',
    # '...T11:00:00Z', '... 22:00:00' and '+02:00' offsets all land on the right UTC instant.
    return expr


def tags_from_columns(columns: Sequence[str], prefix: str) -> str:
    entries = [
        f"{{'key': {lit(c.strip()[len(prefix) :])}, 'value': null_text({q(c)})}}"
        for c in columns
        if c.strip().startswith(prefix)
    ]
    if not entries:
        return "MAP {}::MAP(VARCHAR, VARCHAR)"
    listed = f"list_filter([{', '.join(entries)}], lambda e: e.value IS NOT NULL)"
    return f"map_from_entries({listed})::MAP(VARCHAR, VARCHAR)"


def tags_json(tag_map: str) -> str:
    return f"CASE WHEN cardinality({tag_map}) > 0 THEN to_json({tag_map})::VARCHAR END"


def json_tags(expr: str) -> str:
    """Tags given as a JSON object (FOCUS ``Tags``, CUR 2.0 ``resource_tags``): the JSON, or
    null when the text is not JSON. :mod:`.convert` reads keys and values straight from it (a
    ``MAP`` cast costs twice as much)."""
    return f"TRY_CAST({expr} AS JSON)"
