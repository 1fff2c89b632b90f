// The sensor page's chart: loads a range as columns, draws it with uPlot, appends live points.
// No inline code anywhere (see the CSP); the server's stream pushes only what is new.
(function () {
  "use strict";

  var root = document.getElementById("sensor-chart");
  if (!root || typeof window.uPlot === "undefined" || !window.shopfloorSensorPlot) return;
  var uPlot = window.uPlot;

  var DRAWN_MARK = "sensor-chart-drawn";

  var plotBox = document.getElementById("chart-plot");
  var stripBox = document.getElementById("chart-scores");
  var message = document.getElementById("chart-message");
  var caption = document.getElementById("chart-caption");
  var summary = document.getElementById("chart-summary");
  var picker = document.querySelector(".range-picker");

  // What is shown: the columns uPlot draws, and where the live points go.
  var state = {
    range: root.dataset.range, data: null, cols: null, counts: null, scores: null,
    start: 0, end: 0, span: 0, every: null, scoreEvery: 60, lastReading: -Infinity,
    alarms: [], plot: null, strip: null, zoomed: false, loading: 0, recheck: null,
  };
  var plotting = window.shopfloorSensorPlot(state, {
    syncKey: "sensor-" + root.dataset.sensor, unit: root.dataset.unit,
    onScale: syncZoom, onDraw: markDrawn,
  });
  var stamp = plotting.stamp;

  // --- loading -----------------------------------------------------------------------------
  function load(key) {
    var token = ++state.loading;
    root.dataset.state = "loading";
    fetch(root.dataset.chartUrl + "?range=" + encodeURIComponent(key), {
      headers: { "HX-Request": "true", Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        var redirect = response.headers.get("HX-Redirect");
        if (redirect) { window.location.assign(redirect); return null; } // the session ended
        if (!response.ok) {
          return response.text().then(function (body) { throw new Error(problemText(response, body)); });
        }
        return response.json();
      })
      .then(function (data) {
        if (token !== state.loading || !data) return;
        state.loading = 0;
        show(data);
        if (state.recheck !== null) { var newest = state.recheck; state.recheck = null; onNewest(newest); }
      })
      .catch(function (error) {
        if (token !== state.loading) return;
        state.loading = 0;
        root.dataset.state = "error";
        showMessage("error", "The chart could not be loaded.", error.message || String(error), true);
      });
  }

  function problemText(response, body) {
    var text = "";
    try { text = new DOMParser().parseFromString(body, "text/html").body.textContent.trim(); } catch (e) { text = ""; }
    return text || "The server answered " + response.status + " " + response.statusText + ".";
  }

  // --- drawing -------------------------------------------------------------------------------
  function show(data) {
    var series = data.series;
    state.data = data;
    state.range = data.range;
    state.start = data.start; state.end = data.end; state.span = data.end - data.start;
    state.every = data.every_s; state.scoreEvery = data.scores.every_s;
    state.alarms = data.alarms; state.zoomed = false;
    state.lastReading = data.latest ? data.latest.x : -Infinity;
    if (data.mode === "raw") {
      state.cols = [series.x.slice(), series.value.slice()];
      state.counts = null;
      if (series.x.length) state.lastReading = Math.max(state.lastReading, series.x[series.x.length - 1]);
    } else {
      state.cols = [series.x.slice(), series.mean.slice(), series.min.slice(), series.max.slice()];
      state.counts = series.count.slice();
    }
    state.scores = [data.scores.x.slice(), data.scores.max.slice()];
    root.dataset.mode = data.mode;
    root.dataset.range = data.range;
    document.getElementById("legend-line").textContent = data.mode === "raw" ? "Value" : "Mean per bucket";
    document.querySelector(".legend-band").hidden = data.mode === "raw";
    var title = rangeLink(data.range).getAttribute("title") || "";
    caption.textContent = title.toLowerCase() + (data.mode === "raw"
      ? " · every reading" : " · " + data.every + " buckets (min–max band, mean line)");
    build();
    refreshState();
  }

  function build() {
    if (state.plot) state.plot.destroy();
    if (state.strip) state.strip.destroy();
    var width = Math.max(plotBox.clientWidth, 280);
    state.plot = new uPlot(plotting.plotOptions(width), state.cols, plotBox);
    state.strip = new uPlot(plotting.stripOptions(width), state.scores, stripBox);
  }

  function markDrawn() {
    if (root.dataset.drawn) return;
    root.dataset.drawn = "1";
    if (window.performance && performance.mark) performance.mark(DRAWN_MARK);
  }

  // Zooming one chart zooms the other; zooming out (double-click) follows the live edge again.
  var syncing = false;
  function syncZoom(u, key) {
    if (key !== "x" || syncing || !state.plot || !state.strip) return;
    var min = u.scales.x.min, max = u.scales.x.max;
    state.zoomed = Math.abs(min - state.start) > 1e-3 || Math.abs(max - state.end) > 1e-3;
    var other = u === state.plot ? state.strip : state.plot;
    syncing = true;
    other.setScale("x", { min: min, max: max });
    syncing = false;
  }

  function redraw() {
    var reset = !state.zoomed;
    state.plot.setData(state.cols, reset);
    state.strip.setData(state.scores, reset);
    refreshState();
  }

  // --- what the page says about the chart ------------------------------------------------------
  function refreshState() {
    var xs = state.cols[0];
    root.dataset.points = String(xs.length);
    if (xs.length) {
      root.dataset.state = "ready";
      message.hidden = true;
      summary.textContent = describe();
    } else {
      root.dataset.state = "empty";
      var latest = state.data.latest;
      if (!latest) {
        showMessage("empty", "No readings yet", "Points appear here as soon as the sensor sends one (POST /api/v1/readings with sensor " +
          root.dataset.path + ", or MQTT topic shopfloor/v1/" + root.dataset.path + ").", false);
      } else {
        showMessage("empty", "No readings in " + caption.textContent.split(" · ")[0],
          "The latest arrived at " + stamp(latest.x) + ": choose a longer range to see it.", false);
      }
      summary.textContent = "";
    }
  }

  function describe() {
    var cols = state.cols, n = cols[0].length;
    var lows = cols[state.counts ? 2 : 1], highs = cols[state.counts ? 3 : 1];
    var lo = Math.min.apply(null, lows), hi = Math.max.apply(null, highs);
    var what = state.counts ? n + " buckets of " + state.data.every : n + " readings";
    return what + " from " + stamp(cols[0][0]) + " to " + stamp(cols[0][n - 1]) + ", lowest " + lo + ", highest " + hi + ".";
  }

  function showMessage(kind, title, text, retry) {
    message.hidden = false;
    message.classList.toggle("is-error", kind === "error");
    message.setAttribute("role", kind === "error" ? "alert" : "status");
    message.textContent = "";
    var head = document.createElement("p");
    head.className = "chart-message-title"; head.textContent = title;
    message.appendChild(head);
    if (text) { var body = document.createElement("p"); body.textContent = text; message.appendChild(body); }
    if (retry) {
      var button = document.createElement("button");
      button.type = "button"; button.className = "button"; button.textContent = "Try again";
      button.addEventListener("click", function () { load(state.range); });
      message.appendChild(button);
    }
  }

  // --- live updates --------------------------------------------------------------------------
  function onPoints(body) {
    if (!state.data || state.loading) return; // the load under way brings them
    var xs = body.x, ys = body.y, cols = state.cols, added = 0;
    for (var i = 0; i < xs.length; i++) {
      if (xs[i] <= state.lastReading) continue;
      state.lastReading = xs[i];
      if (state.counts) foldIntoBucket(xs[i], ys[i]); else { cols[0].push(xs[i]); cols[1].push(ys[i]); }
      added++;
    }
    if (!added) return;
    if (state.lastReading > state.end) {
      state.end = state.lastReading;
      state.start = state.end - state.span;
      dropBefore(state.cols, state.start - (state.every || 0), state.counts);
      dropBefore(state.scores, state.start - state.scoreEvery, null);
    }
    redraw();
  }

  function foldIntoBucket(x, y) {
    var cols = state.cols, counts = state.counts, last = cols[0].length - 1;
    var bucket = Math.floor(x / state.every) * state.every;
    if (last >= 0 && cols[0][last] === bucket) {
      var n = counts[last];
      cols[1][last] = (cols[1][last] * n + y) / (n + 1);
      cols[2][last] = Math.min(cols[2][last], y);
      cols[3][last] = Math.max(cols[3][last], y);
      counts[last] = n + 1;
    } else {
      cols[0].push(bucket); cols[1].push(y); cols[2].push(y); cols[3].push(y); counts.push(1);
    }
  }

  function dropBefore(cols, limit, counts) {
    var n = 0;
    while (n < cols[0].length && cols[0][n] < limit) n++;
    if (!n) return;
    cols.forEach(function (col) { col.splice(0, n); });
    if (counts) counts.splice(0, n);
  }

  function onScores(body) {
    if (!state.data || state.loading) return;
    var xs = state.scores[0], ys = state.scores[1], step = state.scoreEvery;
    for (var i = 0; i < body.x.length; i++) {
      var bucket = Math.floor(body.x[i] / step) * step, at = xs.length - 1;
      while (at >= 0 && xs[at] > bucket) at--;
      if (at >= 0 && xs[at] === bucket) ys[at] = Math.max(ys[at], body.max[i]);
      else { xs.splice(at + 1, 0, bucket); ys.splice(at + 1, 0, body.max[i]); }
    }
    redraw();
  }

  function onAlarms(alarms) {
    state.alarms = alarms;
    if (state.plot) state.plot.redraw(false, false);
  }

  // Joining (or rejoining) the stream: if readings came meanwhile, load the chart again.
  function onNewest(body) {
    if (state.loading) { state.recheck = body; return; }
    if (state.data && body.x > state.lastReading) load(state.range);
  }

  function parse(handler) {
    return function (event) {
      var body;
      try { body = JSON.parse(event.data); } catch (e) { return; }
      handler(body);
    };
  }

  document.addEventListener("htmx:sseOpen", function (event) {
    var source = event.detail && event.detail.source;
    if (!source || source.sensorChartWired) return;
    source.sensorChartWired = true;
    source.addEventListener("points", parse(onPoints));
    source.addEventListener("scores", parse(onScores));
    source.addEventListener("alarms", parse(onAlarms));
    source.addEventListener("newest", parse(onNewest));
  });

  // --- the range picker ------------------------------------------------------------------------
  function rangeLink(key) { return picker.querySelector('a[data-range="' + key + '"]'); }

  picker.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-range]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    picker.querySelectorAll("a[data-range]").forEach(function (a) { a.removeAttribute("aria-current"); });
    link.setAttribute("aria-current", "true");
    window.history.replaceState(null, "", "?range=" + link.dataset.range);
    load(link.dataset.range);
  });

  if (window.ResizeObserver) {
    var lastWidth = 0;
    new ResizeObserver(function () {
      var width = Math.max(plotBox.clientWidth, 280);
      if (!state.plot || width === lastWidth) return;
      lastWidth = width;
      state.plot.setSize({ width: width, height: state.plot.height });
      state.strip.setSize({ width: width, height: state.strip.height });
    }).observe(root);
  }

  // Tests and benchmarks read what is drawn from here.
  window.sensorChart = {
    points: function () { return state.cols ? state.cols[0].length : 0; },
    mode: function () { return state.data ? state.data.mode : null; },
    range: function () { return state.range; },
  };

  load(state.range);
})();
