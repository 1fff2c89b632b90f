// The quality area's small helpers: local times, option forms that apply themselves, and the
// entry form's at-a-glance check of each value against its specification. No inline code (CSP).
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // <time datetime="…" data-local>: shown in this browser's time zone.
  function localiseTimes(root) {
    var times = (root || document).querySelectorAll("time[data-local]");
    for (var i = 0; i < times.length; i++) {
      var moment = new Date(times[i].getAttribute("datetime"));
      if (isNaN(moment.getTime())) continue;
      times[i].textContent = moment.getFullYear() + "-" + pad(moment.getMonth() + 1) + "-" + pad(moment.getDate()) +
        " " + pad(moment.getHours()) + ":" + pad(moment.getMinutes());
      times[i].title = moment.toString();
    }
  }

  // A decimal comma reads as a point, as the server reads it.
  function parseNumber(text) {
    text = (text || "").trim();
    if (text.split(",").length === 2 && text.indexOf(".") < 0) text = text.replace(",", ".");
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return NaN;
    return parseFloat(text);
  }

  function checkMeasure(input) {
    var item = input.closest(".measure");
    if (!item) return;
    var out = item.querySelector(".measure-check");
    var value = parseNumber(input.value);
    var lsl = item.dataset.lsl === undefined ? null : parseFloat(item.dataset.lsl);
    var usl = item.dataset.usl === undefined ? null : parseFloat(item.dataset.usl);
    var text = "", state = "";
    if (input.value.trim() === "") {
      state = "";
    } else if (isNaN(value)) {
      text = "Not a number"; state = "out";
    } else if (usl !== null && value > usl) {
      text = "✕ Above the upper limit (" + usl + ")"; state = "out";
    } else if (lsl !== null && value < lsl) {
      text = "✕ Below the lower limit (" + lsl + ")"; state = "out";
    } else if (lsl !== null || usl !== null) {
      text = "✓ Within specification"; state = "in";
    }
    if (out) out.textContent = text;
    if (state) item.dataset.check = state; else delete item.dataset.check;
  }

  document.addEventListener("input", function (event) {
    if (event.target.classList && event.target.classList.contains("measure-input")) checkMeasure(event.target);
  });

  // Option forms (the chart's kind, the points shown) apply as soon as an option is picked.
  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form && form.hasAttribute("data-autosubmit")) {
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    }
  });

  // Values shown again after a refusal get their check back.
  function checkAll(root) {
    var inputs = (root || document).querySelectorAll(".measure-input");
    for (var i = 0; i < inputs.length; i++) if (inputs[i].value) checkMeasure(inputs[i]);
  }

  function prepare(root) {
    localiseTimes(root);
    checkAll(root);
  }

  document.addEventListener("DOMContentLoaded", function () { prepare(document); });
  document.addEventListener("htmx:load", function (event) { prepare(event.target); });
})();
