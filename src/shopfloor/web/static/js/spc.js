// Control charts drawn with uPlot from the data the page embeds (the JSON of .spc-chart's
// data-chart attribute): the plotted points, centre line, control limits (per point when they vary
// with n), specification limits on the individuals chart, and the points that break a rule,
// marked red with the rule's name. The dispersion chart sits under it with the same cursor.
// Redrawn whenever htmx swaps in a new chart (the live stream asks for one per new measurement).
(function () {
  "use strict";

  var COLOURS = {
    value: "#1b4f8a", center: "#1f7a3a", limit: "#b3261e", spec: "#6a3d9a", target: "#6a3d9a",
    flag: "#d93025", flagEdge: "#7a1710", grid: "#e3e6ea", axis: "#4a525c"
  };
  var live = []; // {plot, observer, root}

  function fmt(value, decimals) {
    return value === null || value === undefined || isNaN(value) ? "–" : Number(value).toFixed(decimals);
  }

  function constant(value, length) {
    var out = new Array(length);
    for (var i = 0; i < length; i++) out[i] = value;
    return out;
  }

  function series(values, length) {
    return Array.isArray(values) ? values : constant(values, length);
  }

  // Room for the longest tick label (42.0125 needs more than 0.02).
  function labelWidth(u, values) {
    var longest = (values || []).reduce(function (most, v) { return Math.max(most, String(v).length); }, 4);
    return Math.ceil(longest * 7.4) + 16;
  }

  function extent(arrays) {
    var lo = Infinity, hi = -Infinity;
    arrays.forEach(function (values) {
      values.forEach(function (v) {
        if (v === null || v === undefined || !isFinite(v)) return;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      });
    });
    if (!isFinite(lo)) return [0, 1];
    var pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.05 || 1;
    return [lo - pad, hi + pad];
  }

  function line(label, colour, dash, width, stepped) {
    var s = { label: label, stroke: colour, width: width || 1.5, points: { show: false } };
    if (dash) s.dash = dash;
    if (stepped && uPlot.paths && uPlot.paths.stepped) s.paths = uPlot.paths.stepped({ align: 1 });
    return s;
  }

  // Names of the horizontal lines at the plot's right edge, and each flagged point's rules.
  function labelsHook(plot, lines, flags, x, y) {
    return function (u) {
      var ctx = u.ctx, ratio = window.devicePixelRatio || 1;
      ctx.save();
      ctx.font = (11 * ratio) + "px system-ui, sans-serif";
      ctx.textBaseline = "bottom";
      ctx.textAlign = "right";
      var right = u.bbox.left + u.bbox.width - 4 * ratio;
      lines.forEach(function (l) {
        if (l.value === null || l.value === undefined) return;
        ctx.fillStyle = l.colour;
        ctx.fillText(l.text, right, u.valToPos(l.value, "y", true) - 2 * ratio);
      });
      ctx.textAlign = "center";
      ctx.fillStyle = COLOURS.flagEdge;
      ctx.font = "bold " + (10.5 * ratio) + "px system-ui, sans-serif";
      // The first rule a point breaks names it; a run that goes on is named at its start only.
      var before = null;
      for (var i = 0; i < flags.length; i++) {
        var rule = flags[i] ? flags[i][0].split(":")[0] : null;
        if (rule && (rule !== before || rule === "WE1")) {
          ctx.fillText(rule, u.valToPos(x[i], "x", true), u.valToPos(y[i], "y", true) - 8 * ratio);
        }
        before = rule;
      }
      ctx.restore();
    };
  }

  function readout(container, data, plotData, unit) {
    var box = container.querySelector("[data-readout]");
    return function (u) {
      var i = u.cursor.idx;
      if (!box || i === null || i === undefined) return;
      var parts = ["Point #" + plotData.x[i], plotData.name + " " + fmt(plotData.y[i], data.decimals) + (unit ? " " + unit : "")];
      if (plotData.n && plotData.n[i] !== null) parts.push("n = " + plotData.n[i]);
      var when = new Date(plotData.ts[i]);
      if (!isNaN(when.getTime())) parts.push(when.toLocaleString());
      box.textContent = parts.join(" · ");
      var flags = plotData.flags[i];
      if (flags) {
        flags.forEach(function (text) {
          var p = document.createElement("span");
          p.className = "flagged";
          p.textContent = " · " + text;
          box.appendChild(p);
        });
      }
    };
  }

  function build(container, element, data, plotData, spec, height, syncKey, unit) {
    var n = plotData.x.length;
    var varying = Array.isArray(plotData.ucl);
    var ucl = series(plotData.ucl, n), lcl = series(plotData.lcl, n), centre = constant(plotData.center, n);
    var flagged = plotData.y.map(function (v, i) { return plotData.flags[i] ? v : null; });
    var columns = [plotData.x, plotData.y, ucl, centre, lcl, flagged];
    var seriesOpts = [
      {},
      { label: plotData.name, stroke: COLOURS.value, width: 1.6, points: { show: true, size: 5, fill: COLOURS.value, stroke: COLOURS.value } },
      line("UCL", COLOURS.limit, [6, 4], 1.4, varying),
      line("Centre", COLOURS.center, null, 1.4),
      line("LCL", COLOURS.limit, [6, 4], 1.4, varying),
      { label: "Rule broken", stroke: COLOURS.flagEdge, width: 0, paths: function () { return null; },
        points: { show: true, size: 11, width: 2, fill: COLOURS.flag, stroke: COLOURS.flagEdge } }
    ];
    var labels = [
      { text: "UCL " + fmt(varying ? null : plotData.ucl, data.decimals), value: varying ? null : plotData.ucl, colour: COLOURS.limit },
      { text: "CL " + fmt(plotData.center, data.decimals), value: plotData.center, colour: COLOURS.center },
      { text: "LCL " + fmt(varying ? null : plotData.lcl, data.decimals), value: varying ? null : plotData.lcl, colour: COLOURS.limit }
    ];
    if (spec) {
      [["USL", spec.usl], ["LSL", spec.lsl]].forEach(function (pair) {
        if (pair[1] === null || pair[1] === undefined) return;
        columns.push(constant(pair[1], n));
        seriesOpts.push(line(pair[0], COLOURS.spec, [2, 3], 2));
        labels.push({ text: pair[0] + " " + fmt(pair[1], data.decimals), value: pair[1], colour: COLOURS.spec });
      });
    }
    var range = extent(columns.slice(1));
    var opts = {
      width: Math.max(280, element.clientWidth || container.clientWidth),
      height: height,
      legend: { show: false },
      cursor: { sync: { key: syncKey }, drag: { x: false, y: false }, points: { size: 9 } },
      scales: { x: { time: false }, y: { range: function () { return range; } } },
      axes: [
        { stroke: COLOURS.axis, grid: { stroke: COLOURS.grid }, ticks: { stroke: COLOURS.grid },
          values: function (u, ticks) { return ticks.map(function (t) { return Number.isInteger(t) ? String(t) : ""; }); } },
        { stroke: COLOURS.axis, grid: { stroke: COLOURS.grid }, ticks: { stroke: COLOURS.grid }, size: labelWidth,
          values: function (u, ticks) { return ticks.map(function (t) { return fmt(t, data.decimals); }); } }
      ],
      series: seriesOpts,
      hooks: {
        draw: [labelsHook(null, labels, plotData.flags, plotData.x, plotData.y)],
        setCursor: [readout(container, data, plotData, unit)]
      }
    };
    return new uPlot(opts, columns, element);
  }

  function cleanUp() {
    live = live.filter(function (entry) {
      if (document.body.contains(entry.root)) return true;
      entry.observer.disconnect();
      entry.plot.destroy();
      return false;
    });
  }

  function drawChart(container) {
    if (container.dataset.drawn) return;
    var data = JSON.parse(container.dataset.chart);
    var unit = data.kind === "imr" || data.kind === "xbar_r" || data.kind === "xbar_s" ? data.unit : "";
    var key = "spc-" + Math.random().toString(36).slice(2);
    var plots = [];
    var mainEl = container.querySelector('[data-plot="main"]');
    plots.push(build(container, mainEl, data, data.main, data.spec, 300, key, unit));
    var spreadEl = container.querySelector('[data-plot="dispersion"]');
    if (spreadEl && data.dispersion) plots.push(build(container, spreadEl, data, data.dispersion, null, 170, key, unit));
    plots.forEach(function (plot) {
      var observer = new ResizeObserver(function () {
        var width = plot.root.parentNode ? plot.root.parentNode.clientWidth : 0;
        if (width > 0 && Math.abs(width - plot.width) > 2) plot.setSize({ width: width, height: plot.height });
      });
      observer.observe(plot.root.parentNode);
      live.push({ plot: plot, observer: observer, root: container });
    });
    var y = data.main.y;
    container.dataset.drawn = "true";
    container.dataset.points = String(y.length);
    container.dataset.lastDrawn = y.length ? fmt(y[y.length - 1], data.decimals) : "";
  }

  function drawAll(root) {
    if (typeof uPlot === "undefined") return;
    cleanUp();
    var charts = (root || document).querySelectorAll(".spc-chart[data-chart]");
    for (var i = 0; i < charts.length; i++) drawChart(charts[i]);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:load", function (event) { drawAll(event.target); });
})();
