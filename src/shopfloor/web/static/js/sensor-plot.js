// The sensor page's chart as uPlot draws it: options for the values and the anomaly strip,
// limit lines, alarm marks (real links over the plot). Used by sensor.js; no inline code (CSP).
(function () {
  "use strict";

  // state: what sensor.js shows (columns, window, limits, alarms); hooks: onScale, onDraw, syncKey,
  // unit. Returns the option builders and the time stamp format the page shares.
  window.shopfloorSensorPlot = function (state, hooks) {
    var uPlot = window.uPlot;

    var COLORS = {
      ink: "#4a525c", grid: "#e3e6ea", series: "#0a4fa3", band: "rgba(10, 79, 163, 0.16)",
      limit: "#8f1d16", score: "#6a3fb5", critical: "#b3261e", warning: "#9a5b00", info: "#2b5fa3",
    };
    var SEVERITY_WORDS = { critical: "Critical", warning: "Warning", info: "Info" };
    var AXIS_SIZE = 64; // both charts' value axes: their plots line up

    function xRange() { return [state.start, state.end]; }

    function utc(ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); }

    function pad(n) { return n < 10 ? "0" + n : String(n); }

    // Tick labels in UTC, 24-hour: the date where it changes, the time as fine as the ticks are.
    function timeTicks(u, splits, axis, space, increment) {
      var previousDay = null;
      return splits.map(function (ts) {
        var d = new Date(ts * 1e3);
        var day = pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
        var time = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
        if (increment < 60) time += ":" + pad(d.getUTCSeconds());
        var newDay = day !== previousDay;
        previousDay = day;
        if (increment >= 86400) return day;
        return newDay ? day + " " + time : time;
      });
    }

    function cursorTime(u, ts) {
      if (ts === null || ts === undefined) return "--";
      return new Date(ts * 1e3).toISOString().slice(0, 19).replace("T", " ");
    }

    function plotOptions(width) {
      var buckets = state.counts !== null;
      var unit = hooks.unit;
      var series = [{ label: "Time (UTC)", value: cursorTime }, {
        label: buckets ? "Mean" : "Value", stroke: COLORS.series, width: 1.75, spanGaps: false,
        points: { show: false },
      }];
      if (buckets) {
        series.push({ label: "Min", stroke: "rgba(10, 79, 163, 0.45)", width: 1, points: { show: false } });
        series.push({ label: "Max", stroke: "rgba(10, 79, 163, 0.45)", width: 1, points: { show: false } });
      }
      return {
        width: width, height: Math.max(220, Math.min(360, Math.round(width * 0.38))),
        tzDate: utc,
        cursor: { sync: { key: hooks.syncKey }, drag: { x: true, y: false } },
        scales: { x: { time: true, range: xRange }, y: { range: valueRange } },
        axes: [
          { stroke: COLORS.ink, grid: { stroke: COLORS.grid }, ticks: { stroke: COLORS.grid }, values: timeTicks },
          { stroke: COLORS.ink, size: AXIS_SIZE, label: unit || undefined, labelSize: 18,
            grid: { stroke: COLORS.grid }, ticks: { stroke: COLORS.grid } },
        ],
        series: series,
        bands: buckets ? [{ series: [3, 2], fill: COLORS.band }] : [],
        hooks: { draw: [drawLimits, drawAlarms, hooks.onDraw], setScale: [hooks.onScale] },
      };
    }

    function stripOptions(width) {
      return {
        width: width, height: 84, tzDate: utc, legend: { show: false },
        cursor: { sync: { key: hooks.syncKey }, drag: { x: true, y: false }, points: { show: false } },
        scales: { x: { time: true, range: xRange }, score: { range: [0, 1] } },
        axes: [
          { show: false },
          { scale: "score", stroke: COLORS.ink, size: AXIS_SIZE, label: "Anomaly", labelSize: 18,
            splits: function () { return [0, 0.5, 1]; }, grid: { stroke: COLORS.grid },
            values: function (u, splits) { return splits.map(function (v) { return v.toFixed(1); }); } },
        ],
        series: [{}, {
          label: "Anomaly score", scale: "score", stroke: COLORS.score, width: 1, fill: scoreFill,
          paths: uPlot.paths.stepped({ align: 1 }), points: { show: false },
        }],
        hooks: { setScale: [hooks.onScale] },
      };
    }

    function scoreFill(u) {
      var top = u.bbox.top, bottom = u.bbox.top + u.bbox.height;
      var gradient = u.ctx.createLinearGradient(0, bottom, 0, top);
      gradient.addColorStop(0, "rgba(106, 63, 181, 0.18)");
      gradient.addColorStop(0.5, "rgba(154, 91, 0, 0.45)");
      gradient.addColorStop(1, "rgba(179, 38, 30, 0.85)");
      return gradient;
    }

    // The value axis always shows the limits, so a reading is seen against them.
    function valueRange(u, min, max) {
      var limits = state.data ? state.data.limits : {};
      var lo = min, hi = max;
      [limits.low, limits.high].forEach(function (limit) {
        if (limit === null || limit === undefined) return;
        lo = lo === null || !isFinite(lo) ? limit : Math.min(lo, limit);
        hi = hi === null || !isFinite(hi) ? limit : Math.max(hi, limit);
      });
      if (lo === null || hi === null || !isFinite(lo) || !isFinite(hi)) return [0, 1];
      var pad = (hi - lo) * 0.08 || Math.max(Math.abs(hi) * 0.1, 1);
      return [lo - pad, hi + pad];
    }

    function drawLimits(u) {
      var limits = state.data.limits, ctx = u.ctx, box = u.bbox, ratio = window.devicePixelRatio || 1;
      ctx.save();
      ctx.strokeStyle = COLORS.limit; ctx.fillStyle = COLORS.limit;
      ctx.lineWidth = 1.5 * ratio; ctx.setLineDash([6 * ratio, 4 * ratio]);
      ctx.font = (11 * ratio) + "px system-ui, sans-serif"; ctx.textAlign = "right";
      [["high", limits.high], ["low", limits.low]].forEach(function (pair) {
        if (pair[1] === null || pair[1] === undefined) return;
        var y = Math.round(u.valToPos(pair[1], "y", true));
        if (y < box.top || y > box.top + box.height) return;
        ctx.beginPath(); ctx.moveTo(box.left, y); ctx.lineTo(box.left + box.width, y); ctx.stroke();
        var label = pair[0] + " " + pair[1], at = box.left + box.width - 4 * ratio;
        ctx.setLineDash([]); ctx.lineWidth = 3 * ratio; ctx.strokeStyle = "#ffffff";
        ctx.strokeText(label, at, y - 5 * ratio); ctx.fillText(label, at, y - 5 * ratio);
        ctx.strokeStyle = COLORS.limit; ctx.lineWidth = 1.5 * ratio; ctx.setLineDash([6 * ratio, 4 * ratio]);
      });
      ctx.restore();
    }

    // Alarms: a line where each opened, a bar to where it was last seen, and a link to it.
    function drawAlarms(u) {
      var ctx = u.ctx, box = u.bbox, ratio = window.devicePixelRatio || 1;
      var min = u.scales.x.min, max = u.scales.x.max;
      Array.prototype.slice.call(u.over.querySelectorAll(".alarm-mark")).forEach(function (el) { el.remove(); });
      ctx.save();
      state.alarms.forEach(function (alarm) {
        if (alarm.last_seen_at < min || alarm.opened_at > max) return;
        var color = COLORS[alarm.severity] || COLORS.info;
        var x0 = u.valToPos(Math.max(alarm.opened_at, min), "x", true);
        var x1 = u.valToPos(Math.min(Math.max(alarm.last_seen_at, alarm.opened_at), max), "x", true);
        ctx.globalAlpha = 0.35; ctx.fillStyle = color;
        ctx.fillRect(x0, box.top, Math.max(x1 - x0, 2 * ratio), 5 * ratio);
        ctx.globalAlpha = 0.7; ctx.strokeStyle = color; ctx.lineWidth = ratio;
        ctx.beginPath(); ctx.moveTo(x0, box.top); ctx.lineTo(x0, box.top + box.height); ctx.stroke();
        u.over.appendChild(alarmLink(alarm, u.valToPos(Math.max(alarm.opened_at, min), "x")));
      });
      ctx.restore();
    }

    function alarmLink(alarm, left) {
      var link = document.createElement("a");
      var words = (SEVERITY_WORDS[alarm.severity] || alarm.severity) + " alarm (" + alarm.state + "): " +
        alarm.message + ", opened " + stamp(alarm.opened_at) + ", last seen " + stamp(alarm.last_seen_at);
      link.className = "alarm-mark";
      link.href = alarm.url;
      link.title = words;
      link.setAttribute("aria-label", words);
      link.dataset.alarm = alarm.id;
      link.style.left = left + "px";
      var glyph = document.createElement("span");
      glyph.className = "marker-glyph severity-" + alarm.severity;
      link.appendChild(glyph);
      return link;
    }

    function stamp(ts) { return new Date(ts * 1e3).toISOString().slice(0, 16).replace("T", " ") + " UTC"; }

    return { plotOptions: plotOptions, stripOptions: stripOptions, stamp: stamp };
  };
})();
