"""Query sets in BEIR layout: ``queries.jsonl``, ``qrels/<split>.tsv`` and, optionally,
``corpus.jsonl``.

With a corpus, the set is self-contained (a benchmark such as SciFact): it is indexed into a
collection of its own. Without one, the qrels name documents of the indexed collection (their
ids are the keys relative to the ingested source): a team's own questions about its documents.
The qrels file is ``qrels/test.tsv`` when present, else the only ``.tsv`` in ``qrels/``.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from skybridge.core.errors import ValidationError


@dataclass
class QuerySet:
    """Queries, their graded relevant documents, and the corpus when the set has one."""

    name: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    corpus: dict[str, tuple[str, str]] | None = field(default=None, repr=False)
    qrels_file: str = ""

    @property
    def judged(self) -> list[str]:
        """Ids of queries with at least one relevant document, in file order."""
        return [q for q in self.queries if any(r > 0 for r in self.qrels.get(q, {}).values())]


def _jsonl(path: Path) -> list[dict[str, object]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for n, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise ValidationError(f"{path}:{n}: not a JSON line") from None
            if not isinstance(row, dict) or "_id" not in row:
                raise ValidationError(f'{path}:{n}: each line needs an "_id"')
            rows.append(row)
    return rows


def qrels_file(folder: Path) -> Path:
    """``qrels/test.tsv``, else the one ``.tsv`` in ``qrels/``."""
    qrels = folder / "qrels"
    preferred = qrels / "test.tsv"
    if preferred.is_file():
        return preferred
    found = sorted(qrels.glob("*.tsv")) if qrels.is_dir() else []
    if len(found) == 1:
        return found[0]
    names = ", ".join(p.name for p in found) or "none"
    raise ValidationError(
        f"{folder}: cannot tell which qrels file to use (found: {names})",
        hint="put the judgments in qrels/test.tsv (query-id, corpus-id, score)",
    )


def _qrels(path: Path) -> dict[str, dict[str, int]]:
    judged: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for n, row in enumerate(csv.reader(handle, delimiter="\t"), 1):
            if not row or (n == 1 and not re.fullmatch(r"-?\d+", row[-1].strip())):
                continue
            if len(row) < 3:
                raise ValidationError(f"{path}:{n}: expected query-id, corpus-id, score")
            try:
                judged.setdefault(row[0], {})[row[1]] = int(row[-1])
            except ValueError:
                raise ValidationError(
                    f"{path}:{n}: the score {row[-1]!r} is not a number"
                ) from None
    return judged


def load_query_set(folder: str | Path) -> QuerySet:
    """Read a query set folder.

    Raises:
        ValidationError: a missing ``queries.jsonl``, unreadable lines, or no judged query.
    """
    root = Path(folder)
    if not (root / "queries.jsonl").is_file():
        raise ValidationError(f"{root}: no queries.jsonl", hint="give a folder in BEIR layout")
    queries = {str(r["_id"]): str(r.get("text", "")) for r in _jsonl(root / "queries.jsonl")}
    qfile = qrels_file(root)
    qrels = _qrels(qfile)
    corpus = None
    if (root / "corpus.jsonl").is_file():
        corpus = {
            str(r["_id"]): (str(r.get("title") or ""), str(r.get("text") or ""))
            for r in _jsonl(root / "corpus.jsonl")
        }
    found = QuerySet(root.name, queries, qrels, corpus, qfile.name)
    if not found.judged:
        raise ValidationError(f"{root}: no query in queries.jsonl has a relevant document")
    return found
