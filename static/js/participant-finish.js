/* Completion page: a copy button for the code; back to the panel after a short pause when there
 * is a panel to go back to (the link does the same at once). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var copy = document.getElementById("copy-code");
    if (copy) {
      copy.addEventListener("click", function () {
        var done = function () { copy.textContent = copy.dataset.copied; };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(copy.dataset.copy).then(done, function () { select(); });
        } else {
          select();
        }
      });
    }
    function select() {
      // Plain-http lab networks have no clipboard API: select the code for Ctrl+C.
      var range = document.createRange();
      range.selectNodeContents(document.getElementById("completion-code"));
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }
    var el = document.getElementById("finish-data");
    if (!el || document.getElementById("next-part")) return;
    var data = JSON.parse(el.textContent);
    if (data.redirect_url) setTimeout(function () { window.location.assign(data.redirect_url); }, data.delay_ms);
  });
})();
