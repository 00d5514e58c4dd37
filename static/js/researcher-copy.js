// Copy buttons: copy the text of the field named by data-copy, and say so on the button.
(function () {
  "use strict";
  function copied(button) {
    var label = button.textContent;
    button.textContent = button.getAttribute("data-done") || "Copied";
    button.classList.add("done");
    setTimeout(function () { button.textContent = label; button.classList.remove("done"); }, 2000);
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.setAttribute("data-done", "Copied ✓");
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-copy"));
      if (!field) return;
      var text = field.value;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { copied(button); }, function () {
          field.select(); document.execCommand("copy"); copied(button);
        });
      } else {
        // Plain-HTTP pages (a lab server) have no clipboard API: select and copy the old way.
        field.select();
        document.execCommand("copy");
        copied(button);
      }
    });
  });
})();
