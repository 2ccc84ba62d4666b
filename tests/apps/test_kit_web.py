"""The app kit's page components: Chart, Plot and Table values and the macros that draw them."""

from __future__ import annotations

import html as html_lib
import json

import jinja2
import pytest

from skybridge.apps.kit.cli import counted
from skybridge.apps.kit.web import (
    AppPage,
    Chart,
    Column,
    Line,
    Plot,
    Table,
    api_charts,
    page_errors,
    pipeline_charts,
)
from skybridge.core.errors import NotFound


def render(source: str, **context: object) -> str:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.DictLoader({"page.html": source}),
                jinja2.PackageLoader("skybridge.apps.kit", "templates"),
            ]
        ),
        autoescape=True,
    )
    return env.get_template("page.html").render(**context)


def test_a_chart_takes_its_unit_from_its_first_series() -> None:
    chart = Chart("Lag", ["lag:orders"])
    assert chart.series == ("lag:orders",)
    assert chart.unit == "records"
    assert Chart("Mixed", ["records_per_s", "http_requests_per_s"], unit="per second").unit == (
        "per second"
    )
    with pytest.raises(ValueError, match="at least one series"):
        Chart("Empty", [])


def test_pipeline_and_api_charts_name_their_series() -> None:
    throughput, latency, lag = pipeline_charts("sync", group="sync-group")
    assert throughput.series == ("records_per_s:sync",)
    assert latency.series == ("batch_p95_ms:sync",)
    assert lag.series == ("lag:sync-group",)
    assert [c.series for c in api_charts("shop")] == [
        ("api_requests_per_s:shop",),
        ("api_p95_ms:shop",),
    ]


def test_an_app_page_knows_whether_it_has_charts() -> None:
    assert AppPage("pkg", "t.html", {"charts": pipeline_charts("p")}).has_charts()
    assert AppPage("pkg", "t.html", {"chart": Chart("x", ["lag"])}).has_charts()
    assert not AppPage("pkg", "t.html", {"rows": [1, 2]}).has_charts()


def test_the_chart_macro_names_its_series_for_the_script() -> None:
    html = render(
        '{% import "kit/components.html" as kit with context %}{{ kit.charts(charts) }}',
        charts=[Chart("Lag <by group>", ["lag:o'rders"], window=600, name="lag")],
        can=lambda scope: True,
    )
    assert 'class="chart-card lag"' in html
    assert "Lag &lt;by group&gt;" in html
    assert "data-series='[\"lag:o\\u0027rders\"]'" in html
    assert 'data-window="600"' in html


def test_the_chart_macro_explains_a_missing_scope() -> None:
    html = render(
        '{% import "kit/components.html" as kit with context %}{{ kit.chart(c) }}',
        c=Chart("Lag", ["lag"]),
        can=lambda scope: scope != "service:read",
    )
    assert "data-series" not in html
    assert "service:read" in html


def test_the_table_macro_escapes_cells_and_fills_empty_ones() -> None:
    table = Table(
        [Column("id", "Letter", code=True), Column("count", numeric=True), Column("note")],
        [{"id": "0:1", "count": 3, "note": "<b>bold</b>"}, {"id": "0:2", "count": 0}],
        name="letters",
    )
    html = render('{% import "kit/components.html" as kit %}{{ kit.table(t) }}', t=table)
    assert '<table class="table letters">' in html
    assert "<th>Letter</th>" in html
    assert '<th class="num">Count</th>' in html
    assert "<code>0:1</code>" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert '<span class="muted">—</span>' in html
    assert ">0</td>" in html


def test_a_table_of_rows_takes_its_columns_from_them() -> None:
    table = Table.of([{"a": 1}, {"b": 2, "a": 3}], code=True, empty="none")
    assert [c.key for c in table.columns] == ["a", "b"]
    assert all(c.code for c in table.columns)
    html = render(
        '{% import "kit/components.html" as kit %}{{ kit.table(t) }}', t=Table.of([], empty="none")
    )
    assert "none" in html


def test_a_plot_checks_its_lines_against_its_x_positions() -> None:
    with pytest.raises(ValueError, match="at least one line"):
        Plot("Empty", [1.0], [])
    with pytest.raises(ValueError, match="'b' has 1 values for 2 x"):
        Plot("Ragged", [1.0, 2.0], [Line("a", [1, 2]), Line("b", [1])])
    with pytest.raises(ValueError, match="line, dashed, bound or points"):
        Line("a", [1], style="bars")  # type: ignore[arg-type]
    assert AppPage("pkg", "t.html", {"p": Plot("P", [1.0], [Line("a", [1])])}).has_charts()


def test_a_long_plot_is_thinned_but_keeps_every_marker_and_both_ends() -> None:
    x = [float(i) for i in range(10_000)]
    marks = [float(i) if i in (3, 4_999, 7_777) else None for i in range(10_000)]
    plot = Plot("Long", x, [Line("v", x), Line("flagged", marks, "points")], max_points=100)
    body = plot.payload()
    assert 100 <= len(body["x"]) <= 103
    assert body["x"][0] == 0.0
    assert body["x"][-1] == 9_999.0
    values, flagged = body["lines"]
    assert values["values"] == body["x"]  # each kept position keeps its own value
    assert [v for v in flagged["values"] if v is not None] == [3.0, 4_999.0, 7_777.0]
    short = Plot("Short", [1.0, 2.0], [Line("v", [5, None])]).payload()
    assert short == {
        "x": [1.0, 2.0],
        "time": True,
        "unit": "",
        "lines": [{"label": "v", "style": "line", "values": [5, None]}],
    }


def test_the_plot_macro_carries_its_data_escaped_for_the_script() -> None:
    plot = Plot("Spend", [86400.0], [Line("</script><b>'x'", [1.5])], unit="USD", name="trend")
    html = render(
        '{% import "kit/components.html" as kit %}{{ kit.plot(p) }}', p=plot, can=lambda s: True
    )
    assert '<figure class="chart-card trend">' in html
    assert "<b>" not in html
    assert "'x'" not in html  # the attribute is single-quoted: quotes in data are escaped
    attribute = html.split("data-plot='")[1].split("'")[0]
    assert json.loads(html_lib.unescape(attribute))["lines"][0]["label"] == "</script><b>'x'"


def test_page_errors_show_a_failure_as_the_pages_error_and_hint() -> None:
    values: dict[str, object] = {"rows": []}
    with page_errors(values):
        values["rows"] = ["filled"]
        raise NotFound("no such series 'cpu'", hint="list them: skybridge anomaly series")
    assert values == {
        "rows": ["filled"],
        "error": "no such series 'cpu'",
        "hint": "list them: skybridge anomaly series",
    }
    html = render(
        '{% import "kit/components.html" as kit %}{{ kit.error_alert(error, hint) }}', **values
    )
    assert '<div class="alert alert-error" role="alert">no such series &#39;cpu&#39;<br>' in html
    assert '<span class="small">list them: skybridge anomaly series</span>' in html


def test_page_errors_keep_the_actions_error_and_let_bugs_through() -> None:
    values: dict[str, object] = {"error": "the prune failed", "hint": "retry it"}
    with page_errors(values):
        raise NotFound("the layer is gone")
    assert (values["error"], values["hint"]) == ("the prune failed", "retry it")
    quiet: dict[str, object] = {}
    with page_errors(quiet):
        pass
    assert quiet == {"error": None, "hint": None}
    assert render('{% import "kit/components.html" as kit %}{{ kit.error_alert(None) }}') == ""
    with pytest.raises(KeyError), page_errors({}):
        raise KeyError("a bug is not a page error")


@pytest.mark.parametrize(
    ("count", "noun", "plural", "text"),
    [
        (0, "row", None, "0 rows"),
        (1, "row", None, "1 row"),
        (2, "row", None, "2 rows"),
        (1, "entry", "entries", "1 entry"),
        (3, "entry", "entries", "3 entries"),
    ],
)
def test_counted_agrees_the_noun(count: int, noun: str, plural: str | None, text: str) -> None:
    assert counted(count, noun, plural) == text
