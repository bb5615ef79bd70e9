/* LeadRelay console: small progressive enhancements. Every page works without this file.
   - <form data-confirm="ID">: submitting opens <dialog class="confirm" id="ID"> first; its [data-proceed]
     submits the form, [data-close] (or Escape) cancels.
   - <button data-copy="TEXT"> or data-copy-target="#id": copies the text and says so. */
(function () {
  "use strict";

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
