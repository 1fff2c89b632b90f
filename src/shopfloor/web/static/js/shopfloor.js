// shopfloor dashboard: what htmx does not do by itself. No inline code anywhere (see the CSP).
(function () {
  "use strict";

  var SIGNED_OUT = "signed-out";

  function liveStatus(text) {
    var banner = document.getElementById("live-status");
    if (!banner) return;
    banner.textContent = text || "";
    banner.hidden = !text;
  }

  function showError(html, text) {
    var area = document.getElementById("flashes");
    if (!area) return;
    var holder = document.createElement("div");
    if (html) {
      holder.innerHTML = html; // the server's own escaped fragment (error_fragment.html)
    } else {
      var p = document.createElement("p");
      p.className = "flash flash-error";
      p.setAttribute("role", "alert");
      p.textContent = text;
      holder.appendChild(p);
    }
    while (holder.firstChild) area.appendChild(holder.firstChild);
  }

  // Live streams: say when updates stop, and go to the sign-in page when the session ended.
  document.addEventListener("htmx:sseOpen", function (event) {
    liveStatus("");
    var source = event.detail && event.detail.source;
    if (source && !source.shopfloorWatched) {
      source.shopfloorWatched = true;
      source.addEventListener(SIGNED_OUT, function () {
        source.close();
        window.location.reload();
      });
    }
  });
  document.addEventListener("htmx:sseError", function () {
    liveStatus("Live updates interrupted: reconnecting… What you see may be out of date.");
  });

  // Requests htmx makes: show why one failed instead of silently doing nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var type = (xhr.getResponseHeader("content-type") || "").toLowerCase();
    if (type.indexOf("text/html") === 0 && xhr.responseText.length < 4000) {
      showError(xhr.responseText);
    } else {
      showError(null, "The request failed (" + xhr.status + " " + xhr.statusText + ").");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    showError(null, "The server cannot be reached. Check the connection and try again.");
  });
})();
