"""The item catalogue: id, title, category, availability, kept in the kv store.

Items come from a CSV (header ``id,title,category,available``) or JSON Lines file. The
category and availability are copied into the vector index's metadata so business filters
run inside the vector backend; changing availability updates both.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from skybridge.apps.recommend.events import check_id
from skybridge.backends.kv import KeyValueStore
from skybridge.core.errors import NotFound, ValidationError

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


@dataclass(frozen=True)
class Item:
    """One catalogue item."""

    id: str
    title: str = ""
    category: str = ""
    available: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def metadata(self) -> dict[str, Any]:
        """What the vector index holds for filters and display."""
        return {"title": self.title, "category": self.category, "available": self.available}

    @classmethod
    def parse(cls, data: Any, where: str = "item") -> Item:
        """An item from a mapping of its fields (text values as read from CSV are accepted)."""
        if not isinstance(data, dict):
            raise ValidationError(f"{where} is not an object with id, title, category, available")
        available = data.get("available", True)
        if isinstance(available, str):
            if available.strip().lower() not in _TRUE | _FALSE:
                raise ValidationError(f"{where}: available {available!r} is not true or false")
            available = available.strip().lower() in _TRUE
        if not isinstance(available, bool):
            raise ValidationError(f"{where}: available must be true or false")
        title, category = str(data.get("title") or ""), str(data.get("category") or "")
        if len(title) > 500 or len(category) > 100:
            raise ValidationError(f"{where}: title (500) or category (100 characters) too long")
        return cls(check_id(data.get("id"), "item"), title, category, available)


def read_items(path: Path) -> list[Item]:
    """Every item of a CSV or JSON Lines file; nothing is returned if one line is bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot read catalogue {path}: {exc.strerror}") from None
    return parse_items(text, jsonl=path.suffix in {".jsonl", ".json", ".ndjson"})


def parse_items(text: str, *, jsonl: bool) -> list[Item]:
    """Items from CSV or JSON Lines text."""
    rows: Iterable[Any]
    if jsonl:
        rows = [_json_line(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "id" not in reader.fieldnames:
            raise ValidationError("the catalogue CSV needs a header with an id column")
        rows = list(reader)
    items = [Item.parse(row, f"catalogue line {n}") for n, row in enumerate(rows, 2 - jsonl)]
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise ValidationError("the catalogue names an item twice")
    return items


def _json_line(n: int, line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        raise ValidationError(f"catalogue line {n} is not JSON") from None


class Catalogue:
    """Items under ``recommend/<collection>/items/`` of a kv store."""

    def __init__(self, kv: KeyValueStore, collection: str) -> None:
        self.kv = kv
        self.prefix = f"recommend/{collection}/items/"

    def put(self, items: Iterable[Item]) -> int:
        values = {f"{self.prefix}{i.id}": json.dumps(i.to_dict()).encode() for i in items}
        for start in range(0, len(values), 500):
            keys = list(values)[start : start + 500]
            self.kv.put_many({k: values[k] for k in keys})
        return len(values)

    def get(self, item: str) -> Item | None:
        found = self.kv.get_json(self.prefix + item)
        return Item(**found) if found else None

    def require(self, item: str) -> Item:
        found = self.get(check_id(item, "item"))
        if found is None:
            raise NotFound(f"item {item!r} is not in the catalogue")
        return found

    def get_many(self, ids: Iterable[str]) -> dict[str, Item]:
        found = self.kv.get_many(self.prefix + i for i in ids)
        return {k.removeprefix(self.prefix): Item(**json.loads(v)) for k, v in found.items()}

    def __iter__(self) -> Iterator[Item]:
        for entry in self.kv.scan_prefix(self.prefix):
            yield Item(**json.loads(entry.value))

    def count(self) -> int:
        return sum(1 for _ in self.kv.keys(self.prefix))
