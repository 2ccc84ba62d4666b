/* skybridge dashboard charts.
 *
 * Every element with class "chart" (drawn by the kit's chart macro) names the series it shows in
 * data-series (a JSON list of selectors) and how many seconds in data-window. This script asks
 * /api/metrics/history for them (same origin, the session cookie), draws them with the vendored
 * uPlot and asks again every few seconds while the page is open. After each refresh the element
 * carries data-points (samples shown) and data-last (the sum of the newest values).
 *
 * Elements with data-plot (the kit's plot macro) carry their data instead: x positions (epoch
 * seconds, shown in UTC, or plain numbers) and lines drawn solid, dashed, as a band's thin bound
 * or as markers only.
 * They are drawn once; data-points is set the same way.
 */
(function () {
  "use strict";

  var REFRESH_MS = 5000;
  var HEIGHT = 180;
  var COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8];
  var COLORS = ["#1f5fbf", "#e8710a", "#1a7f4b", "#b42318", "#7c3aed", "#0e7490", "#9a6700", "#be185d"];

  function shortNumber(value) {
    if (value === null || value === undefined) {
      return "—";
    }
    var size = Math.abs(value);
    if (size >= 1e6) {
      return (value / 1e6).toFixed(1) + "M";
    }
    if (size >= 1e3) {
      return (value / 1e3).toFixed(1) + "k";
    }
    if (size >= 10 || value === Math.round(value)) {
      return String(Math.round(value));
    }
    return value.toFixed(size < 1 ? 2 : 1);
  }

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  // One line per tick, 24-hour UTC time, as the tables beside the charts show times; seconds
  // whenever a tick falls within a minute (ticks 30 s apart read "01:04:00 01:04:30", not
  // "01:04 01:04").
  function timeTicks(u, ticks) {
    var seconds = ticks.some(function (t) { return Math.round(t) % 60 !== 0; });
    return ticks.map(function (t) {
      var d = new Date(Math.round(t) * 1000);
      var hm = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
      return seconds ? hm + ":" + pad(d.getUTCSeconds()) : hm;
    });
  }

  // The time axis says its zone once, under the ticks.
  var UTC_LABEL = { label: "UTC", labelSize: 16, labelFont: "11px system-ui, sans-serif" };

  // A plot's time axis in UTC (the apps' data is UTC): dates alone once ticks are a day or more
  // apart; else times of day, with the date under the first tick and wherever the day changes.
  function utcTicks(u, ticks) {
    var step = ticks.length > 1 ? ticks[1] - ticks[0] : 0;
    var previous = null;
    return ticks.map(function (t) {
      var d = new Date(t * 1000);
      var day = pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
      if (step >= 86400) {
        return day;
      }
      var label = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
      if (day !== previous) {
        label += "\n" + day;
      }
      previous = day;
      return label;
    });
  }

  // Ticks on UTC hours and midnights, whatever the browser's time zone.
  function utcDate(ts) {
    return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");
  }

  // A lone sample gets a minute of empty time either side: uPlot spreads a single x value over
  // days, and every tick read 00:00.
  function padLone(data) {
    if (data[0].length !== 1) {
      return data;
    }
    var t = data[0][0];
    return [[t - 60, t, t + 60]].concat(data.slice(1).map(function (values) {
      return [null, values[0], null];
    }));
  }

  function historyUrl(el) {
    var params = new URLSearchParams();
    JSON.parse(el.dataset.series).forEach(function (selector) {
      params.append("series", selector);
    });
    params.set("window", el.dataset.window);
    return "/api/metrics/history?" + params.toString();
  }

  function chartOptions(el, body) {
    var lines = body.series.map(function (s, i) {
      return {
        label: s.name,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        // null: nothing was observed in that interval (no request, no batch); draw across it
        spanGaps: true,
        value: function (u, v) { return shortNumber(v); }
      };
    });
    var options = {
      width: Math.max(el.clientWidth, 200),
      height: HEIGHT,
      series: [{}].concat(lines),
      scales: {
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.15 : 1]; } }
      },
      axes: [
        {
          stroke: "#5f6b7a",
          space: 64,
          grid: { stroke: "#eef1f5" },
          ticks: { stroke: "#e1e6ed" },
          values: timeTicks,
          label: UTC_LABEL.label,
          labelSize: UTC_LABEL.labelSize,
          labelFont: UTC_LABEL.labelFont
        },
        {
          stroke: "#5f6b7a",
          size: 48,
          grid: { stroke: "#eef1f5" },
          ticks: { stroke: "#e1e6ed" },
          values: function (u, ticks) { return ticks.map(shortNumber); }
        }
      ],
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      tzDate: utcDate
    };
    if (el.dataset.unit === "records") {
      // counts: whole-number ticks (an idle lag chart read 0, 0.50, 1)
      options.axes[1].incrs = COUNT_STEPS;
    }
    return options;
  }

  function newest(values) {
    for (var i = values.length - 1; i >= 0; i--) {
      if (values[i] !== null) {
        return values[i];
      }
    }
    return 0;
  }

  function Chart(el) {
    this.el = el;
    this.url = historyUrl(el);
    this.empty = el.querySelector(".chart-empty");
    this.plot = null;
    this.keys = "";
    var self = this;
    if (window.ResizeObserver) {
      new ResizeObserver(function () { self.resize(); }).observe(el);
    }
  }

  Chart.prototype.resize = function () {
    if (this.plot && this.el.clientWidth > 0) {
      this.plot.setSize({ width: this.el.clientWidth, height: HEIGHT });
    }
  };

  Chart.prototype.show = function (body) {
    var keys = body.series.map(function (s) { return s.key; }).join(" ");
    var data = padLone([body.t].concat(body.series.map(function (s) { return s.values; })));
    if (body.t.length === 0 || body.series.length === 0) {
      this.empty.hidden = false;
      if (body.t.length) {
        this.empty.textContent = "Nothing happened here in this window yet.";
      }
    } else if (this.plot && keys === this.keys) {
      this.plot.setData(data);
    } else {
      if (this.plot) {
        this.plot.destroy();
      }
      this.empty.hidden = true;
      this.plot = new uPlot(chartOptions(this.el, body), data, this.el);
      this.keys = keys;
    }
    var last = body.series.reduce(function (sum, s) { return sum + newest(s.values); }, 0);
    this.el.dataset.points = String(body.t.length);
    this.el.dataset.last = String(Math.round(last * 1000) / 1000);
  };

  Chart.prototype.refresh = function () {
    var self = this;
    if (document.hidden) {
      return Promise.resolve();
    }
    return fetch(this.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (body) { self.show(body); })
      .catch(function (error) {
        self.empty.hidden = false;
        self.empty.textContent = "The chart could not be loaded (" + error.message + ").";
      });
  };

  // A dashed line continues the line before it (a forecast after the actuals): same colour.
  function plotLine(line, i) {
    var index = line.style === "dashed" && i > 0 ? i - 1 : i;
    var color = line.style === "points" ? "#b42318" : line.style === "bound" ? "#9aa5b4" : COLORS[index % COLORS.length];
    var options = {
      label: line.label,
      stroke: color,
      width: line.style === "points" ? 0 : line.style === "bound" ? 1 : 2,
      spanGaps: line.style !== "points",
      value: function (u, v) { return shortNumber(v); }
    };
    if (line.style === "dashed" || line.style === "bound") {
      options.dash = line.style === "bound" ? [2, 3] : [6, 4];
    }
    if (line.style === "points") {
      options.paths = function () { return null; };
      options.points = { show: true, size: 8, stroke: color, fill: color };
    } else {
      options.points = { show: false };
    }
    return options;
  }

  function drawPlot(el) {
    var body = JSON.parse(el.dataset.plot);
    var empty = el.querySelector(".chart-empty");
    el.dataset.points = String(body.x.length);
    if (!body.x.length) {
      return;
    }
    var options = chartOptions(el, { series: [] });
    options.series = [{}].concat(body.lines.map(plotLine));
    options.scales = { x: { time: body.time } };
    options.axes[0].values = body.time ? utcTicks : function (u, ticks) { return ticks.map(shortNumber); };
    if (!body.time) {
      delete options.tzDate;
      delete options.axes[0].label;
      options.axes[0].labelSize = 0;
    }
    var data = padLone([body.x].concat(body.lines.map(function (line) { return line.values; })));
    empty.hidden = true;
    var plot = new uPlot(options, data, el);
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (el.clientWidth > 0) {
          plot.setSize({ width: el.clientWidth, height: HEIGHT });
        }
      }).observe(el);
    }
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll(".chart[data-plot]"), drawPlot);
    var charts = Array.prototype.map.call(document.querySelectorAll(".chart[data-series]"), function (el) {
      return new Chart(el);
    });
    function tick() {
      Promise.all(charts.map(function (c) { return c.refresh(); })).then(function () {
        window.setTimeout(tick, REFRESH_MS);
      });
    }
    if (charts.length) {
      tick();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
