/* LeadRelay console: small progressive enhancements. Every page works without this file.
   - <form data-confirm="ID">: submitting opens <dialog class="confirm" id="ID"> first; its [data-proceed]
     submits the form, [data-close] (or Escape) cancels.
   - <button data-copy="TEXT"> or data-copy-target="#id": copies the text and says so.
   - .table-wrap that scrolls sideways (a wide table on a phone) becomes a focusable, named region, so a keyboard
     user can scroll it too. */
(function () {
  "use strict";

  function scrollableTables() {
    document.querySelectorAll(".table-wrap").forEach(function (wrap) {
      var scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
      if (scrolls && !wrap.hasAttribute("tabindex")) {
        var card = wrap.closest(".card, section");
        var heading = card && card.querySelector("h2, h3");
        var caption = wrap.querySelector("caption");
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", ((caption || heading) ? (caption || heading).textContent.trim() : "Table") +
                                        " (scrolls sideways)");
        wrap.dataset.scrollRegion = "1";
      } else if (!scrolls && wrap.dataset.scrollRegion) {
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
        wrap.removeAttribute("aria-label");
        delete wrap.dataset.scrollRegion;
      }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scrollableTables);
  else scrollableTables();
  window.addEventListener("resize", function () { clearTimeout(scrollableTables.t); scrollableTables.t = setTimeout(scrollableTables, 150); });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var id = form.getAttribute && form.getAttribute("data-confirm");
    if (!id || form.dataset.confirmed === "1") return;
    var dialog = document.getElementById(id);
    if (!dialog || typeof dialog.showModal !== "function") return; // no <dialog>: the server-side check stands
    event.preventDefault();
    dialog.showModal();
    var proceed = dialog.querySelector("[data-proceed]");
    if (proceed) proceed.focus();
    dialog.onclick = function (click) {
      if (click.target.closest("[data-close]")) dialog.close();
      if (click.target.closest("[data-proceed]")) {
        form.dataset.confirmed = "1";
        dialog.close();
        form.requestSubmit ? form.requestSubmit() : form.submit();
      }
    };
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy], [data-copy-target]");
    if (!button) return;
    var text = button.getAttribute("data-copy");
    var target = button.getAttribute("data-copy-target");
    if (target) {
      var node = document.querySelector(target);
      text = node ? (node.value !== undefined ? node.value : node.textContent) : "";
    }
    if (!text || !navigator.clipboard) return;
    navigator.clipboard.writeText(text.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      button.setAttribute("aria-live", "polite");
      setTimeout(function () { button.textContent = label; }, 1600);
    });
  });
})();
