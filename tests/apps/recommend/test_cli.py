"""``skybridge recommend``: the whole loop from the command line; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.apps.recommend.conftest import CATALOGUE, taste_events
from typer.testing import CliRunner

from skybridge.cli import build_cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_cli(), ["recommend", *args])
    return result.exit_code, result.stdout, result.stderr


def write_inputs(workdir: Path) -> tuple[Path, Path]:
    catalogue = workdir / "items.csv"
    catalogue.write_text(
        "id,title,category,available\n"
        + "".join(f"{i.id},{i.title},{i.category},{str(i.available).lower()}\n" for i in CATALOGUE)
    )
    events = workdir / "events.jsonl"
    events.write_text("".join(e.encode().decode() + "\n" for e in taste_events()))
    return catalogue, events


def test_load_ingest_serve_train_recommend(workdir: Path) -> None:
    catalogue, events = write_inputs(workdir)
    assert run("load", str(catalogue), "--json")[:2] == (
        0,
        '{\n  "items": 18,\n  "index_updated": 0\n}\n',
    )
    code, out, _ = run("ingest", str(events), "--json")
    assert code == 0
    assert json.loads(out)["published"] == 80
    code, out, _ = run("serve", "--until-idle", "--json")
    assert code == 0
    assert json.loads(out)["applied"] == 80
    code, out, _ = run("train", "--json")
    assert code == 0
    assert json.loads(out)["version"] == "v0001"
    code, out, _ = run("recommend", "A01", "--k", "3", "--json")
    assert code == 0
    found = json.loads(out)
    assert found["strategy"] == "personal"
    assert len(found["items"]) == 3
    code, out, _ = run("recommend", "A01", "--category", "gamma")
    assert code == 0
    assert "gamma" in out
    code, out, _ = run("feedback", "A01", found["items"][0]["item"], "rec_click", "--json")
    assert code == 0
    assert run("serve", "--until-idle")[0] == 0
    code, out, _ = run("report", "--json")
    report = json.loads(out)
    assert report["rec_click"] == 1
    assert report["served"] == 2
    assert report["impressions"] > 3
    code, out, _ = run("show", "A01", "--json")
    assert json.loads(out)["recent"][0]["kind"] == "rec_click"
    code, out, _ = run("list", "--json")
    assert [v["version"] for v in json.loads(out)] == ["v0001"]
    code, out, _ = run("status")
    assert code == 0
    assert "v0001" in out


def test_availability_changes_reach_the_served_index(workdir: Path) -> None:
    catalogue, events = write_inputs(workdir)
    run("load", str(catalogue))
    run("ingest", str(events))
    run("serve", "--until-idle")
    run("train")
    offered = json.loads(run("recommend", "stranger", "--k", "17", "--json")[1])["items"]
    assert offered
    first = offered[0]["item"]
    rows = catalogue.read_text().splitlines()
    changed = [r.rsplit(",", 1)[0] + ",false" if r.startswith(f"{first},") else r for r in rows]
    catalogue.write_text("\n".join(changed) + "\n")
    code, out, _ = run("load", str(catalogue), "--json")
    assert code == 0
    assert json.loads(out)["index_updated"] == 1
    again = json.loads(run("recommend", "stranger", "--k", "17", "--json")[1])["items"]
    assert first not in {i["item"] for i in again}


def test_bad_input_exits_2_with_a_message(workdir: Path) -> None:
    code, _, err = run("feedback", "A01", "a1", "like")
    assert code == 2
    assert "kind" in err
    code, _, err = run("recommend", "bad user")
    assert code == 2
    assert "user id" in err
    bad = workdir / "bad.jsonl"
    bad.write_text('{"user": "u", "item": "i", "kind": "view"}\nnot,an\n')
    code, _, err = run("ingest", str(bad))
    assert code == 2
    assert "line 2" in err
    code, _, err = run("load", str(workdir / "missing.csv"))
    assert code == 2
    code, _, err = run("train", "--window-days", "0")
    assert code == 2
    assert "window" in err


def test_feedback_on_an_item_not_in_the_catalogue_is_refused_before_publishing(
    workdir: Path,
) -> None:
    catalogue, _ = write_inputs(workdir)
    run("load", str(catalogue))
    code, out, err = run("feedback", "A01", "NOSUCHITEM", "click")
    assert code == 2, out + err
    assert "item 'NOSUCHITEM' is not in the catalogue; nothing was published" in err
    assert "Traceback" not in out + err
    code, out, _ = run("serve", "--until-idle", "--json")
    assert (code, json.loads(out)) == (0, {"applied": 0})
    assert run("feedback", "A01", "a1", "click")[0] == 0


@pytest.mark.parametrize("command", ["recommend", "generate"])
def test_a_category_not_in_the_catalogue_is_refused_listing_some_that_are(
    workdir: Path, command: str
) -> None:
    catalogue, _ = write_inputs(workdir)
    code, _, err = run(command, "A01", "--category", "nosuch")
    assert code == 2  # an empty catalogue says so
    assert "it has none yet: skybridge recommend load FILE" in " ".join(err.split())
    run("load", str(catalogue))
    code, out, err = run(command, "A01", "--category", "nosuch", "--category", "beta")
    assert code == 2, out + err
    said = " ".join(err.split())
    assert "category 'nosuch' is not in the catalogue" in said
    assert "categories it has: alpha, beta, gamma" in said
    assert out == ""
    code, _, err = run(command, "A01", "--category", "x", "--category", "y")
    assert code == 2
    assert "categories 'x', 'y' are not in the catalogue" in " ".join(err.split())


def test_serve_prints_its_status_on_stderr(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("skybridge.apps.recommend.cli.serve_forever", lambda app: None)
    code, out, err = run("serve", "--json")
    assert code == 0
    assert out == ""  # stdout holds JSON only
    assert "recommend event pipeline running" in err


def test_an_interrupted_ingest_says_how_to_publish_the_rest_once(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skybridge.apps.recommend.service import Recommender

    _, events = write_inputs(workdir)
    published: list[int] = []
    real = Recommender.publish

    def publish_then_stop(self: Recommender, batch: list[Any]) -> int:
        if published:
            raise KeyboardInterrupt
        published.append(len(batch))
        return real(self, batch)

    monkeypatch.setattr(Recommender, "publish", publish_then_stop)
    monkeypatch.setattr("skybridge.apps.recommend.cli.PUBLISH_BATCH", 50)
    code, _, err = run("ingest", str(events))
    assert code == 130
    said = " ".join(err.split())
    assert "50 of 80 events were published before the interruption" in said
    assert f"skybridge recommend ingest {events} --skip 50" in said
    assert published == [50]
    monkeypatch.undo()
    code, out, _ = run("ingest", str(events), "--skip", "80", "--json")
    assert (code, json.loads(out)) == (0, {"published": 0, "skipped": 80})
    code, _, err = run("ingest", str(events), "--skip", "81")
    assert code == 2
    assert "--skip 81 is more than the 80 events" in err
