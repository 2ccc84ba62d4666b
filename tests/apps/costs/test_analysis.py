"""Tag policy, budgets (with one alert per incident through OCI Notifications on the emulator),
forecasts and anomalies, on hand-written data and synthetic series with known answers."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skybridge.apps.costs import budgets
from skybridge.apps.costs.analytics import QUERIES_AT_ONCE, CostData, Period
from skybridge.apps.costs.anomalies import detect_spikes
from skybridge.apps.costs.config import BudgetSpec, TagRule
from skybridge.apps.costs.convert import connect
from skybridge.apps.costs.focus import norm_key
from skybridge.apps.costs.forecast import forecast_month, run_rate
from skybridge.apps.costs.ingest import CostStore
from skybridge.apps.costs.tags import compliance, instance_compliance
from skybridge.backends import notify
from skybridge.testing.oci import OciEmulator

from .conftest import DATA, cents

POLICY = [TagRule(key="cost_center", allowed=["CC-101", "CC-202", "CC-303"])]
SEPTEMBER = Period(date(2024, 9, 1), date(2024, 9, 30))


SQL = connect()


@settings(deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii", exclude_characters="\x00"), max_size=30))
def test_the_sql_and_python_tag_key_folds_agree(key: str) -> None:
    (folded,) = SQL.execute("SELECT tag_key_norm(?)", [key]).fetchone() or ("",)
    assert folded == norm_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "cost_center",
        "CostCenter",
        "user:cost_center",
        "Finance.CostCenter",
        "cost-center",
        "user_cost_center",
    ],
)
def test_every_provider_shape_of_a_key_folds_together(key: str) -> None:
    assert norm_key(key) == "costcenter"


def test_compliance_splits_untagged_and_invalid_taggable_spend(store: CostStore) -> None:
    store.ingest_file(DATA / "focus_1_0.csv")
    with store.data() as data:
        report = compliance(data, POLICY, SEPTEMBER).to_dict()
    # Usage only: 10.25-ish rows; tax and credit rows are not taggable.
    assert report["taggable_cost"] == pytest.approx(9.50 + 4.10 + 3.00 + 2.00 + 0.0)
    assert report["untagged_cost"] == pytest.approx(4.10)  # the S3 bucket has no tags
    assert report["invalid_cost"] == pytest.approx(3.00)  # CostCenter=CC-999
    by_provider = {r["value"]: r for r in report["by"]["provider"]}
    assert by_provider["AWS"]["noncompliant_share"] == pytest.approx(7.10 / 16.60)
    assert by_provider["Microsoft"]["noncompliant_cost"] == 0
    assert [w["resource"] for w in report["worst_offenders"]] == ["bucket-a", "i-2"]


def test_aliases_count_as_the_required_key(store: CostStore) -> None:
    store.ingest_file(DATA / "oci_cost_report.csv")
    period = Period(date(2023, 11, 1), date(2023, 11, 30))
    rule = [TagRule(key="team", aliases=["Finance.cost_center"])]
    with store.data() as data:
        report = compliance(data, rule, period)
    assert cents(report.untagged) == Decimal("0.73")  # only the DATABASE line lacks it


def test_instance_compliance_names_the_problem() -> None:
    assert instance_compliance({"cost_center": "CC-101"}, POLICY) is None
    assert instance_compliance({"Finance.CostCenter": "CC-202"}, POLICY) is None
    assert instance_compliance({}, POLICY) == "no cost_center tag"
    assert "CC-999" in (instance_compliance({"CostCenter": "CC-999"}, POLICY) or "")


# -- forecasts ---------------------------------------------------------------------------
def weekly_series(
    start: date,
    days: int,
    *,
    weekday: float = 100.0,
    weekend: float = 40.0,
    noise: float = 0.03,
    seed: int = 1,
) -> dict[date, float]:
    rng = random.Random(seed)
    found = {}
    for offset in range(days):
        day = start + timedelta(days=offset)
        base = weekend if day.weekday() >= 5 else weekday
        found[day] = base * rng.uniform(1 - noise, 1 + noise)
    return found


def test_run_rate_is_ocis_formula_from_day_three() -> None:
    assert run_rate(50.0, date(2024, 9, 2)) is None
    assert run_rate(300.0, date(2024, 9, 10)) == pytest.approx(300.0 / 10 * 30)


def test_the_seasonal_forecast_beats_the_run_rate_on_a_weekly_pattern() -> None:
    series = weekly_series(date(2024, 7, 1), 92)
    actual = sum(v for d, v in series.items() if d.month == 9)
    as_of = date(2024, 9, 8)  # two weekends in the first eight days: run rate low
    forecast = forecast_month({d: v for d, v in series.items() if d <= as_of}, as_of)
    assert forecast.method == "seasonal"
    assert forecast.run_rate is not None
    assert forecast.expected is not None
    assert abs(forecast.expected - actual) < abs(forecast.run_rate - actual)
    assert forecast.low is not None
    assert forecast.high is not None
    assert forecast.low <= actual <= forecast.high
    assert len(forecast.days) == 22


def test_with_little_history_the_forecast_is_the_run_rate() -> None:
    series = weekly_series(date(2024, 9, 1), 5)
    forecast = forecast_month(series, date(2024, 9, 5))
    assert forecast.method == "run-rate"
    assert forecast.expected == forecast.run_rate


# -- anomalies ---------------------------------------------------------------------------
def test_an_injected_spike_is_found_and_noise_is_not() -> None:
    series = weekly_series(date(2024, 7, 1), 60, seed=3)
    spike_day = date(2024, 8, 14)
    series[spike_day] += 250.0
    found = detect_spikes(series, threshold=4.0, min_impact=5.0)
    assert [s.day for s in found] == [spike_day]
    assert found[0].impact == pytest.approx(250.0, rel=0.1)


def test_a_spike_below_the_dollar_floor_is_not_an_anomaly() -> None:
    series = dict.fromkeys((date(2024, 7, 1) + timedelta(days=i) for i in range(30)), 1.0)
    series[date(2024, 7, 25)] = 3.0
    assert detect_spikes(series, threshold=4.0, min_impact=5.0) == []
    assert [s.day for s in detect_spikes(series, threshold=4.0, min_impact=1.0)] == [
        date(2024, 7, 25)
    ]


def test_anomalies_name_the_contributing_resource(costs: object, workdir: Path) -> None:
    from skybridge.apps.costs.api import Costs
    from skybridge.apps.costs.demo_data import aws_focus_csv

    assert isinstance(costs, Costs)
    last = date(2024, 9, 30)
    export = workdir / "aws.csv"
    export.write_bytes(aws_focus_csv(last))
    list(costs.ingest_paths([export]))
    found = costs.anomalies(Period(date(2024, 9, 1), last), "service")
    assert [(a.value, a.spike.day) for a in found] == [
        ("Amazon Elastic Compute Cloud", last - timedelta(days=4))
    ]
    assert found[0].contributors[0]["resource"].endswith("cloud/CC-202")


# -- budgets -----------------------------------------------------------------------------
@pytest.mark.oci
def test_budget_alerts_go_out_once_per_incident(
    store: CostStore, oci_emulator: OciEmulator
) -> None:
    store.ingest_file(DATA / "focus_1_0.csv")
    spec = BudgetSpec(
        name="cc-101",
        dimension="tag:cost_center",
        value="CC-101",
        amount=10.0,
        actual_thresholds=[0.5, 0.9],
        forecast_thresholds=[1.0],
    )
    topic = oci_emulator.create_topic("budgets")
    url = f"oci-ons://{topic}?endpoint={oci_emulator.endpoint}"
    with store.data() as data:
        statuses = budgets.evaluate(data, [spec], date(2024, 9, 3))
    assert statuses[0].actual == pytest.approx(9.50)
    assert statuses[0].crossed[:2] == [("actual", 0.5), ("actual", 0.9)]
    with notify.connect(url, config=oci_emulator.sdk_config()) as notifier:
        sent = budgets.send_alerts(statuses, notifier, store.ledger)
        again = budgets.send_alerts(statuses, notifier, store.ledger)
    assert [s["incident"] for s in sent] == [
        budgets.incident(statuses[0], k, t) for k, t in statuses[0].crossed
    ]
    assert again == []
    messages = oci_emulator.published(topic)
    assert len(messages) == len(sent)
    assert "[WARNING] Budget cc-101 has reached 90% in 2024-09" in {m.title for m in messages}


@pytest.mark.oci
def test_a_failed_alert_is_retried_by_the_next_check(
    store: CostStore, oci_emulator: OciEmulator
) -> None:
    from skybridge.core.errors import SkybridgeError

    store.ingest_file(DATA / "focus_1_0.csv")
    spec = BudgetSpec(name="all", amount=1.0, actual_thresholds=[1.0], forecast_thresholds=[])
    topic = oci_emulator.create_topic("budgets-retry")
    with store.data() as data:
        statuses = budgets.evaluate(data, [spec], date(2024, 9, 3))
    with notify.connect(
        f"oci-ons://{topic}?endpoint={oci_emulator.endpoint}", config=oci_emulator.sdk_config()
    ) as notifier:
        oci_emulator.faults.inject("PublishMessage", 500, times=1)
        with pytest.raises(SkybridgeError):
            budgets.send_alerts(statuses, notifier, store.ledger)
        assert len(budgets.send_alerts(statuses, notifier, store.ledger)) == 1
    assert len(oci_emulator.published(topic)) == 1


def test_a_burst_of_reports_runs_a_few_queries_at_once() -> None:
    # DuckDB runs each query on every core: 40 requests running theirs at once buried the
    # thread holding the GIL among busy threads, stalling the service's event loop.
    running, most = 0, 0
    counting = threading.Lock()

    class TimedConnection:
        def __init__(self, con: Any) -> None:
            self.con = con

        def execute(self, *args: Any) -> Any:
            nonlocal running, most
            with counting:
                running += 1
                most = max(most, running)
            time.sleep(0.05)
            with counting:
                running -= 1
            return self.con.execute(*args)

        def close(self) -> None:
            self.con.close()

    datas = [CostData([]) for _ in range(6)]
    for data in datas:
        data.con = TimedConnection(data.con)  # type: ignore[assignment]
    together = threading.Barrier(len(datas))

    def report(data: CostData) -> date | None:
        together.wait()
        return data.last_day()

    with ThreadPoolExecutor(len(datas)) as pool:
        assert list(pool.map(report, datas)) == [None] * len(datas)
    for data in datas:
        data.close()
    assert most == QUERIES_AT_ONCE
