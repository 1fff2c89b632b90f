// shopfloor administration pages: what htmx does not do by itself. No inline code (see the CSP).
(function () {
  "use strict";

  var FRAGMENT_HEADER = "X-Shopfloor-Fragment";

  // A refused form (422, 409) comes back as its fragment with the problems next to the fields,
  // marked by the server: swap it in like a success instead of reporting a failed request.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status >= 400 && xhr.getResponseHeader(FRAGMENT_HEADER) === "in-place") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // After a swap, take the keyboard to what needs attention: a form's problems, else a notice.
  document.addEventListener("htmx:afterSettle", function (event) {
    var root = event.detail.elt;
    if (!root || !root.querySelector) return;
    var target = root.querySelector(".error-summary, [data-focus-after-swap]");
    if (target) {
      if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
      target.focus();
    }
  });

  // Parts of a form that apply to one choice of a <select data-switch> (a channel's kind, a
  // rule's kind): [data-for="a b"] shows for a and b only. Hidden parts are disabled too, so
  // what they hold is not sent.
  function applySwitch(select) {
    var form = select.form;
    if (!form) return;
    var parts = form.querySelectorAll("[data-for]");
    for (var i = 0; i < parts.length; i++) {
      var on = parts[i].getAttribute("data-for").split(" ").indexOf(select.value) >= 0;
      parts[i].hidden = !on;
      parts[i].disabled = !on;
    }
  }
  function applySwitches(root) {
    var selects = (root || document).querySelectorAll("select[data-switch]");
    for (var i = 0; i < selects.length; i++) applySwitch(selects[i]);
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-switch]")) {
      applySwitch(event.target);
    }
  });
  document.addEventListener("DOMContentLoaded", function () { applySwitches(document); });
  document.addEventListener("htmx:load", function (event) { applySwitches(event.detail.elt); });

  // A link to #new (an empty list's "create the first one") opens the form it names.
  function openFromHash() {
    var id = window.location.hash.slice(1);
    var panel = id && document.getElementById(id);
    if (!panel || panel.tagName !== "DETAILS") return;
    panel.open = true;
    var field = panel.querySelector("input:not([type=hidden]), select, textarea");
    if (field) field.focus();
  }
  document.addEventListener("DOMContentLoaded", openFromHash);
  window.addEventListener("hashchange", openFromHash);

  // Copy buttons: <button data-copy="#id"> copies the value (or text) of that element.
  function copied(button, ok) {
    var status = document.getElementById(button.getAttribute("aria-controls") + "-status");
    var text = ok ? "Copied to the clipboard." : "Could not copy: select the text and copy it.";
    if (status) status.textContent = text;
    button.textContent = ok ? "Copied" : "Copy";
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var value = source.value !== undefined ? source.value : source.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(
        function () { copied(button, true); },
        function () { copied(button, false); }
      );
      return;
    }
    // Plain http to another host: no clipboard API; select the text and use the old command.
    source.focus();
    if (source.select) source.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    copied(button, ok);
  });
})();
