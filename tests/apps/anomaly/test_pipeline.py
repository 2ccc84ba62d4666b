"""The app end to end on SQLite and PostgreSQL: stream -> rows -> incidents -> notifications."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from skybridge.cli import build_cli

from .conftest import shifted_series, write_csv

_databases = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_url(request: pytest.FixtureRequest, skybridge_workdir: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{skybridge_workdir / 'anomaly.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"anomaly_{next(_databases)}"
    admin = create_engine(
        server.url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    yield server.url.rsplit("/", 1)[0] + f"/{name}"


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_cli(), list(args))
    if result.exit_code:
        return result.exit_code, result.stdout + result.stderr + repr(result.exception)
    return result.exit_code, result.stdout


def test_level_shift_is_one_incident_and_one_message(
    sql_url: str, skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__SQL", sql_url)
    times, values = shifted_series()
    csv_file = write_csv(skybridge_workdir / "cpu.csv", times, values)
    code, out = _cli("anomaly", "run", "--file", str(csv_file), "--idle-exit", "1", "--json")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["produced"] == summary["records"] == len(values)
    code, out = _cli("anomaly", "alerts", "list", "--json")
    shift = [i for i in json.loads(out)["incidents"] if i["opened"] == times[1400].isoformat()]
    assert len(shift) == 1
    assert shift[0]["notified"]
    assert summary["alerts"]["notified"] == summary["alerts"]["opened"]
    engine = create_engine(sql_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT event_time, metric_value, anomaly_flag FROM raw_events ORDER BY event_time"
            )
        ).all()
        pending = conn.execute(text("SELECT count(*) FROM raw_events WHERE processed_flag = 'N'"))
        assert pending.scalar_one() == 0
    engine.dispose()
    assert len(rows) == len(values)
    assert rows[1400].anomaly_flag == "Y"
    assert sum(r.anomaly_flag == "Y" for r in rows[1400:]) <= 3


def test_scheduled_detection_flags_like_online(
    skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYBRIDGE__ANOMALY__DETECTION", "scheduled")
    times, values = shifted_series()
    csv_file = write_csv(skybridge_workdir / "cpu.csv", times, values)
    code, out = _cli("anomaly", "run", "--file", str(csv_file), "--idle-exit", "1", "--json")
    assert code == 0, out
    code, out = _cli("anomaly", "status", "--json")
    (status,) = json.loads(out)
    assert status["points"] == len(values)
    assert 1 <= status["flags"] <= 10


def test_bad_events_are_dead_lettered_and_write_nothing(
    skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = _cli("stream", "create", "anomaly.events")
    assert code == 0, out
    for bad in ['{"series": "x", "time": "yesterday", "metric": 1}', '{"series": "x"}', "[1]"]:
        assert _cli("stream", "produce", "anomaly.events", bad, "--key", "x")[0] == 0
    code, out = _cli("anomaly", "run", "--idle-exit", "1", "--json")
    assert code == 0, out
    assert json.loads(out)["dead_letters"] == 3
    code, out = _cli("anomaly", "status", "--json")
    assert json.loads(out) == []


def test_cli_refuses_bad_input_with_exit_2(skybridge_workdir: Path) -> None:
    (skybridge_workdir / "bad.csv").write_text("time,value\n1,2\n")
    assert _cli("anomaly", "detect", str(skybridge_workdir / "bad.csv"))[0] == 2
    assert _cli("anomaly", "eval", "--nab", str(skybridge_workdir))[0] == 2
    assert _cli("anomaly", "alerts", "ack", "no-such-incident")[0] == 2
    good = write_csv(skybridge_workdir / "ok.csv", *shifted_series(count=50))
    assert _cli("anomaly", "detect", str(good), "--detector", "nope")[0] == 2


def test_a_poison_series_is_dead_lettered_and_later_events_are_scored(
    skybridge_workdir: Path,
) -> None:
    code, out = _cli("stream", "create", "anomaly.events")
    assert code == 0, out
    poison = [
        ('{"series": "a\\u0000b", "time": "2024-01-01T00:00:00", "metric": 1}', "a"),
        ('{"time": "2024-01-01T00:00:00", "metric": 1}', "k\x01"),  # the key names the series
        ('{"series": "big", "time": "2024-01-01T00:00:00", "metric": 1e308}', "big"),
    ]
    for value, key in poison:
        assert _cli("stream", "produce", "anomaly.events", value, "--key", key)[0] == 0
    for minute in range(3):
        good = f'{{"series": "cpu", "time": "2024-01-01T00:0{minute}:00", "metric": {minute}}}'
        assert _cli("stream", "produce", "anomaly.events", good, "--key", "cpu")[0] == 0
    code, out = _cli("anomaly", "run", "--idle-exit", "1", "--json")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["dead_letters"] == 3
    assert summary["records"] == 6
    code, out = _cli("anomaly", "status", "--json")
    assert [(s["series"], s["points"]) for s in json.loads(out)] == [("cpu", 3)]


def test_cli_refuses_unusable_series_names_and_values_with_exit_2(
    skybridge_workdir: Path,
) -> None:
    good = write_csv(skybridge_workdir / "ok.csv", *shifted_series(count=50))
    code, out = _cli("anomaly", "run", "--file", str(good), "--series", "a\x01b")
    assert code == 2, out
    assert "series" in out
    times, values = shifted_series(count=50)
    for bad in (1e308, math.nan, math.inf):
        path = write_csv(skybridge_workdir / "bad.csv", times, [*values[:-1], bad])
        code, out = _cli("anomaly", "detect", str(path), "--detector", "global-z")
        assert code == 2, out
        assert "bad.csv:51" in out
    lines = (skybridge_workdir / "ok.csv").read_text().splitlines()
    lines[7] = "not-a-date," + lines[7].split(",")[1]
    (skybridge_workdir / "late.csv").write_text("\n".join(lines) + "\n")
    for command in (["detect"], ["run", "--series", "x", "--file"]):
        code, out = _cli("anomaly", *command, str(skybridge_workdir / "late.csv"))
        assert code == 2, out
        assert "late.csv:8: bad timestamp 'not-a-date'" in out


def test_detect_and_detectors_follow_the_settings(
    skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(skybridge_workdir / "cpu.csv", *shifted_series(count=600, shift_at=5000))
    code, out = _cli("anomaly", "detect", str(path), "--json")
    assert code == 0, out
    assert json.loads(out)["detector"] == "combined"
    assert len(json.loads(out)["flagged"]) == 1  # the spike at 300
    monkeypatch.setenv("SKYBRIDGE__ANOMALY__DETECTOR", "global-z")
    code, out = _cli("anomaly", "detect", str(path), "--json")
    assert json.loads(out)["detector"] == "global-z"
    code, out = _cli("anomaly", "detectors", "--json")
    assert [d["name"] for d in json.loads(out) if d["default"]] == ["global-z"]
    monkeypatch.setenv("SKYBRIDGE__ANOMALY__THRESHOLDS", '{"cpu": 1.0}')
    code, out = _cli("anomaly", "detect", str(path), "--json")
    assert json.loads(out)["flagged"] == []  # the series' own threshold, from the file's name
    code, out = _cli("anomaly", "detect", str(path), "--threshold", "0.55", "--json")
    assert json.loads(out)["flagged"]  # the option wins
    monkeypatch.setenv("SKYBRIDGE__ANOMALY__THRESHOLD", "abc")
    for command in (["detect", str(path)], ["detectors"]):
        code, out = _cli("anomaly", *command)
        assert code == 2, out
        assert "anomaly.threshold" in out


def _stored_rows(sql_url: str) -> dict[str, tuple[object, ...]]:
    engine = create_engine(sql_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT event_id, score, anomaly_flag, reason, processed_flag FROM raw_events")
        ).all()
    engine.dispose()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_a_point_delivered_again_keeps_its_score_and_a_new_late_point_is_stored_late(
    sql_url: str, skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__SQL", sql_url)
    times, values = shifted_series(count=600, shift_at=5000)
    csv_file = write_csv(skybridge_workdir / "cpu.csv", times, values)
    code, out = _cli("anomaly", "run", "--file", str(csv_file), "--idle-exit", "1", "--json")
    assert code == 0, out
    first = _stored_rows(sql_url)
    assert len(first) == len(values)
    assert sum(flag == "Y" for _, flag, _, _ in first.values()) == 1  # the spike at 300
    code, out = _cli("anomaly", "run", "--file", str(csv_file), "--idle-exit", "1", "--json")
    assert code == 0, out
    assert json.loads(out)["records"] == len(values)  # every point came again, all late
    assert _stored_rows(sql_url) == first
    late = {"series": "cpu", "time": (times[300] + timedelta(minutes=1)).isoformat(), "metric": 50}
    assert _cli("stream", "produce", "anomaly.events", json.dumps(late), "--key", "cpu")[0] == 0
    code, out = _cli("anomaly", "run", "--idle-exit", "1", "--json")
    assert code == 0, out
    rows = _stored_rows(sql_url)
    (new,) = set(rows) - set(first)
    score, flag, reason, _ = rows[new]
    assert (score, flag) == (None, "N")
    assert reason.startswith("late event")
    assert {k: v for k, v in rows.items() if k != new} == first
