// The alarm pages: rows that expand to their history and notes, and times that stay current.
// Everything else (actions, live rows) is htmx; no inline code anywhere (see the CSP).
(function () {
  "use strict";

  var REFRESH_MS = 15000;

  // As formatting.ago() on the server writes it.
  function ago(moment) {
    var seconds = Math.max(0, (Date.now() - moment.getTime()) / 1000);
    if (seconds < 5) return "just now";
    if (seconds < 60) return Math.floor(seconds) + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
    return Math.floor(seconds / 86400) + " d ago";
  }

  function refreshTimes(root) {
    var times = (root || document).querySelectorAll("time[data-relative]");
    for (var i = 0; i < times.length; i++) {
      var moment = new Date(times[i].getAttribute("datetime"));
      if (isNaN(moment.getTime())) continue;
      times[i].textContent = ago(moment);
      if (!times[i].dataset.local) {
        // The exact time in the viewer's own time zone, the server's UTC after it.
        times[i].title = moment.toLocaleString() + " (" + times[i].title + ")";
        times[i].dataset.local = "1";
      }
    }
  }

  function detailOf(toggle) {
    return document.getElementById(toggle.getAttribute("aria-controls"));
  }

  // A row drawn again (an action, the stream) forgets whether its detail is open: ask the page.
  function syncToggles() {
    var toggles = document.querySelectorAll(".alarm-toggle");
    for (var i = 0; i < toggles.length; i++) {
      var detail = detailOf(toggles[i]);
      var open = !!detail && !detail.hidden && detail.classList.contains("loaded");
      toggles[i].setAttribute("aria-expanded", open ? "true" : "false");
    }
  }

  function toggle(button) {
    var detail = detailOf(button);
    if (!detail) return;
    if (button.getAttribute("aria-expanded") === "true") {
      detail.hidden = true;
      button.setAttribute("aria-expanded", "false");
      return;
    }
    button.setAttribute("aria-expanded", "true");
    if (detail.classList.contains("loaded")) {
      detail.hidden = false;
      return;
    }
    htmx.ajax("GET", button.dataset.panel, { target: detail, swap: "outerHTML" });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".alarm-toggle");
    if (button) toggle(button);
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    syncToggles();
    refreshTimes(event.target);
  });
  // Out-of-band swaps (a row answered with an action in the detail) settle on their own.
  document.addEventListener("htmx:oobAfterSwap", syncToggles);

  document.addEventListener("DOMContentLoaded", function () {
    var tables = document.querySelectorAll(".alarm-table");
    for (var i = 0; i < tables.length; i++) tables[i].classList.add("enhanced");
    syncToggles();
    refreshTimes(document);
    window.setInterval(function () { refreshTimes(document); }, REFRESH_MS);
  });
})();
