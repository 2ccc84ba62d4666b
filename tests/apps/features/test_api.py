"""The HTTP routes and the CLI over the demo data: features with freshness, predictions with
the missing policy, feedback to the stream, training sets, and bad input answered with what
to fix."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skybridge.apps.features.demo import seed_demo
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.cli import build_cli
from skybridge.testing.service import ServiceHarness, fresh_workdir, service_harness

from .scenario import features_context


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("features-demo")
    with pytest.MonkeyPatch.context() as mp:
        fresh_workdir(path, mp)
        seed_demo(features_context())
    return path


@pytest.fixture
def service(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServiceHarness]:
    fresh_workdir(demo_dir, monkeypatch)
    with service_harness([find_app(discover_apps(), "features")]) as harness:
        yield harness


def test_an_entity_s_features_with_freshness(service: ServiceHarness) -> None:
    answer = service.client.get("/api/features/user-03", headers=service.auth).json()
    assert answer["found"] is True
    assert answer["freshness_seconds"] >= 0
    assert set(answer["features"]) >= {"count5min", "lastEventType", "purchaseRate1h"}
    unknown = service.client.get("/api/features/nobody", headers=service.auth).json()
    assert unknown["found"] is False
    assert unknown["features"]["count5min"]["missing"].startswith("unknown entity")
    other = service.client.get(
        "/api/features/user-03?view=user_feature_store", headers=service.auth
    )
    assert "lastMetric" in other.json()["features"]
    bad = service.client.get("/api/features/user-03?view=nope", headers=service.auth)
    assert bad.status_code == 404
    assert "realtime_features" in bad.json()["hint"]


def test_predictions_carry_their_features_and_the_missing_policy(service: ServiceHarness) -> None:
    buyer = service.client.post(
        "/api/features/predict", headers=service.auth, json={"entity": "user-03"}
    )
    assert buyer.status_code == 200, buyer.text
    body = buyer.json()
    assert 0.0 <= body["prediction"] <= 1.0
    assert body["model_input"].keys() >= {"count5min", "purchases1h"}
    assert body["prediction_id"]
    unknown = service.client.post(
        "/api/features/predict", headers=service.auth, json={"entity": "ghost"}
    )
    assert set(unknown.json()["filled"]) == set(unknown.json()["model_input"])
    typo = service.client.post(
        "/api/features/predict",
        headers=service.auth,
        json={"entity": "user-03", "input": {"bogus": 1}},
    )
    assert typo.status_code == 422
    assert "'bogus' is not a model column" in typo.json()["message"]


def test_refuse_policy_names_what_is_missing(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_workdir(demo_dir, monkeypatch)
    monkeypatch.setenv("SKYBRIDGE__FEATURES__MISSING_POLICY", "refuse")
    with service_harness([find_app(discover_apps(), "features")]) as service:
        answer = service.client.post(
            "/api/features/predict", headers=service.auth, json={"entity": "ghost"}
        )
    assert answer.status_code == 422
    assert "count5min (unknown entity" in answer.json()["message"]


def test_feedback_is_published_to_the_stream(service: ServiceHarness) -> None:
    sent = service.client.post(
        "/api/features/feedback",
        headers=service.auth,
        json={"prediction_id": "p1", "entity": "user-03", "label": 1},
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["topic"] == "features.feedback"
    assert sent.json()["event"]["label"] == 1
    for body in (
        '{"prediction_id": "p2", "entity": "user-03", "label": NaN}',
        '{"prediction_id": "p2", "entity": "user-03", "label": Infinity}',
        '{"prediction_id": "p2", "entity": "user-03", "label": "' + "x" * 201 + '"}',
    ):
        refused = service.client.post(
            "/api/features/feedback",
            headers={**service.auth, "Content-Type": "application/json"},
            content=body,
        )
        assert refused.status_code == 422, (body[:60], refused.text)


def test_lookup_and_training_set_routes(service: ServiceHarness) -> None:
    many = service.client.post(
        "/api/features/lookup", headers=service.auth, json={"entities": ["user-01", "user-02"]}
    )
    assert [v["entity"] for v in many.json()["entities"]] == ["user-01", "user-02"]
    too_many = service.client.post(
        "/api/features/lookup", headers=service.auth, json={"entities": ["x"] * 1001}
    )
    assert too_many.status_code == 422
    rows = [
        {"userId": "user-03", "t": "2020-01-01T00:00:00Z"},
        {"userId": "user-03", "t": 4102444800},
    ]
    result = service.client.post(
        "/api/features/training-set", headers=service.auth, json={"as_of": "t", "rows": rows}
    ).json()
    past, future = result["rows"]
    assert past["events1h"] is None
    assert past["_missing"]["events1h"].startswith("unknown entity")
    # By 2100 every value is older than the view's ttl (1 d): missing, and why.
    assert future["count5min"] is None
    assert future["_missing"]["lastEventType"].startswith("stale")
    assert future["_missing"]["count5min"].startswith("stale")
    missing_column = service.client.post(
        "/api/features/training-set", headers=service.auth, json={"as_of": "when", "rows": rows}
    )
    assert missing_column.status_code == 422
    assert "has no column 'when'" in missing_column.json()["message"]


def _cli(*args: str) -> Any:
    return CliRunner().invoke(build_cli(), ["features", *args])


def test_cli_reads_trains_and_refuses_bad_input(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_workdir(demo_dir, monkeypatch)
    got = _cli("get", "user-03", "user-04", "--json")
    assert got.exit_code == 0, got.output
    assert [e["entity"] for e in json.loads(got.stdout)["entities"]] == ["user-03", "user-04"]
    table = _cli("get", "user-03")
    assert table.exit_code == 0, table.output
    last_update = next(line for line in table.stdout.splitlines() if "lastUpdate" in line)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? UTC", last_update), last_update
    rows = demo_dir / "rows.csv"
    rows.write_text("userId,as_of,buyer\nuser-03,2100-01-01T00:00:00Z,1\nuser-04,4102444800,0\n")
    out = demo_dir / "set.parquet"
    made = _cli("training-set", "--entities", str(rows), "--as-of", "as_of", "--out", str(out))
    assert made.exit_code == 0, made.output
    assert out.stat().st_size > 0
    missing = _cli("training-set", "--entities", str(demo_dir / "none.csv"), "--as-of", "t")
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
    predicted = _cli("predict", "user-03", "--json")
    assert predicted.exit_code == 0, predicted.output
    assert 0 <= json.loads(predicted.stdout)["prediction"] <= 1
    bad_input = _cli("predict", "user-03", "--input", "amount")
    assert bad_input.exit_code == 2
    assert "NAME=NUMBER" in bad_input.output
    for label, said in [("", "training row 2 has no 'buyer' label"), ("yes", "mixes numbers")]:
        labelled = demo_dir / "labelled.csv"
        labelled.write_text(
            "userId,as_of,buyer\nuser-03,2100-01-01T00:00:00Z,1\n"
            f"user-04,4102444800,{label}\nuser-05,4102444800,0\n"
        )
        trained = _cli(
            "train", "--entities", str(labelled), "--as-of", "as_of", "--label", "buyer"
        )  # fmt: skip
        assert trained.exit_code == 2, trained.output
        assert said in " ".join(trained.output.split())
    strangers = demo_dir / "strangers.csv"  # entities the offline log has never seen
    strangers.write_text("userId,as_of,buyer\nnobody-1,4102444800,1\nnobody-2,4102444800,0\n")
    blind = _cli("train", "--entities", str(strangers), "--as-of", "as_of", "--label", "buyer")
    assert blind.exit_code == 2, blind.output
    assert "has a value in any of the 2 training rows" in " ".join(blind.output.split())
    for args in [("", "user-03", "1"), ("p1", "", "1"), ("p1", "user-03", " ")]:
        refused = _cli("feedback", *args)
        assert refused.exit_code == 2, (args, refused.output)


def test_apply_checks_definitions(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fresh_workdir(tmp_path, monkeypatch)
    broken = tmp_path / "bad.yaml"
    broken.write_text(
        "views:\n  - name: v\n    entity: id\n    topic: t\n    features:\n"
        "      - {name: c, agg: count, window: 7m, resolution: 2m}\n"
    )
    refused = _cli("apply", str(broken))
    assert refused.exit_code == 2
    assert "views.0.features.0: feature 'c': resolution 2m must divide window 7m" in refused.output
    good = tmp_path / "good.yaml"
    good.write_text(
        "views:\n  - name: clicks\n    entity: id\n    topic: clicks\n    ttl: 1d\n"
        "    features:\n"
        "      - {name: c5m, agg: count, window: 5m, default: 7, description: recent clicks}\n"
    )
    applied = _cli("apply", str(good), "--json")
    assert applied.exit_code == 0, applied.output
    listed = json.loads(_cli("list", "--json").stdout)
    assert [v["name"] for v in listed["views"]] == ["clicks"]
    [view] = listed["views"]  # every field of the definitions
    assert view["ttl"] == "1d"
    assert (view["features"][0]["default"], view["features"][0]["description"]) == (
        7,
        "recent clicks",
    )


def test_status_counts_the_pipelines_dead_letters_until_replayed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fresh_workdir(tmp_path, monkeypatch)
    views = tmp_path / "views.yaml"
    views.write_text(
        "views:\n  - name: clicks\n    entity: id\n    topic: clicks\n    features:\n"
        "      - {name: c5m, agg: count, window: 5m}\n"
    )
    assert _cli("apply", str(views)).exit_code == 0
    stream = CliRunner().invoke(build_cli(), ["stream", "produce", "clicks", "not json"])
    assert stream.exit_code == 0, stream.output
    done = _cli("materialize", "--idle-exit", "0.5")
    assert done.exit_code == 0, done.output
    assert "done: 1 record in 1 batch, 1 dead letter; written: nothing" in done.stdout
    report = json.loads(_cli("status", "--json").stdout)
    assert [(v["name"], v["dead_letters"]) for v in report["views"]] == [("clicks", 1)]
    assert "dead letters" in _cli("status").stdout
    replay = CliRunner().invoke(build_cli(), ["stream", "dlq", "replay", "clicks", "--all"])
    assert replay.exit_code == 0, replay.output
    report = json.loads(_cli("status", "--json").stdout)
    assert report["views"][0]["dead_letters"] == 0
