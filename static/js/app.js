/* mailcore UI glue: the modal dialog, composer mode, menus, envelopes kept open across polling.
   Everything else is plain HTML forms enhanced by htmx. */
(function () {
  "use strict";

  function modal() { return document.getElementById("modal"); }

  // Content swapped into the modal opens it; the server closes it with the "closeModal" trigger.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "modal-content") {
      var dialog = modal();
      if (dialog && !dialog.open) { dialog.showModal(); }
    }
  });
  document.addEventListener("closeModal", function () {
    var dialog = modal();
    if (dialog && dialog.open) { dialog.close(); }
  });
  document.addEventListener("close", function (event) {
    if (event.target === modal()) { document.getElementById("modal-content").innerHTML = ""; }
  }, true);
  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-modal]");
    if (closer) { event.preventDefault(); modal().close(); }
  });

  // Envelope popovers stay open when polling replaces them (htmx swaps the whole <details>).
  var openEnvelopes = new Set();
  document.addEventListener("toggle", function (event) {
    var el = event.target;
    if (el.classList && el.classList.contains("envelope")) {
      if (el.open) { openEnvelopes.add(el.id); } else { openEnvelopes.delete(el.id); }
    }
  }, true);
  document.addEventListener("htmx:load", function (event) {
    var el = event.detail.elt;
    if (el && el.classList && el.classList.contains("envelope") && openEnvelopes.has(el.id)) { el.open = true; }
  });

  // Close menus and popovers on an outside click or Escape.
  function closeOpen(except) {
    document.querySelectorAll("details.menu[open], details.envelope[open]").forEach(function (d) {
      if (!except || !d.contains(except)) { d.open = false; }
    });
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("dialog")) { return; }
    closeOpen(event.target);
  });
  document.addEventListener("keydown", function (event) { if (event.key === "Escape") { closeOpen(null); } });

  // Tabs ([data-tabs]): a [data-tab] button shows the [data-tab-panel] of the same name.
  document.addEventListener("click", function (event) {
    var tab = event.target.closest("[data-tabs] [data-tab]");
    if (!tab) { return; }
    var box = tab.closest("[data-tabs]");
    var name = tab.getAttribute("data-tab");
    box.querySelectorAll("[data-tab]").forEach(function (t) { t.setAttribute("aria-selected", String(t === tab)); });
    box.querySelectorAll("[data-tab-panel]").forEach(function (p) { p.hidden = p.getAttribute("data-tab-panel") !== name; });
  });

  // Composer: "Send message" and "Log note" share one form; the tab sets the subtype.
  document.addEventListener("click", function (event) {
    var tab = event.target.closest("[data-composer-mode]");
    if (!tab) { return; }
    var chatter = tab.closest(".chatter");
    var mode = tab.getAttribute("data-composer-mode");
    var form = chatter.querySelector(".composer");
    var alreadyOpen = !form.hidden && form.getAttribute("data-mode") === mode;
    chatter.querySelectorAll("[data-composer-mode]").forEach(function (t) {
      t.setAttribute("aria-selected", String(!alreadyOpen && t === tab));
    });
    if (alreadyOpen) { form.hidden = true; return; }
    form.hidden = false;
    form.setAttribute("data-mode", mode);
    form.classList.toggle("note", mode === "note");
    form.querySelector("input[name=mode]").value = mode;
    form.querySelectorAll("[data-for-mode]").forEach(function (el) {
      el.hidden = el.getAttribute("data-for-mode") !== mode;
    });
    var textarea = form.querySelector("textarea");
    textarea.placeholder = mode === "note" ? "Log an internal note…" : "Send a message to followers…";
    textarea.focus();
  });

  // Plain (non-htmx) forms that need a warning first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var text = form.getAttribute("data-confirm");
    if (text && !window.confirm(text)) { event.preventDefault(); }
  }, true);

  // Remote images of a message stay hidden until the reader asks for them (the server keeps their
  // URL in data-remote-src): loading them tells the sender the mail was read.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-show-images]");
    if (!button) { return; }
    var message = button.closest(".msg");
    message.querySelectorAll("img[data-remote-src]").forEach(function (img) {
      img.setAttribute("src", img.getAttribute("data-remote-src"));
      img.removeAttribute("data-remote-src");
    });
    var bar = button.closest("[data-remote-images-bar]");
    if (bar) { bar.remove(); }
  });

  // A form control that submits its form when changed (no inline handlers: the CSP forbids them).
  document.addEventListener("change", function (event) {
    var control = event.target.closest("[data-submit-on-change]");
    if (control && control.form) { control.form.submit(); }
  });

  // Select-all checkbox for bulk actions.
  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (!all) { return; }
    var scope = document.querySelectorAll(all.getAttribute("data-select-all"));
    scope.forEach(function (box) { box.checked = all.checked; });
  });
})();
