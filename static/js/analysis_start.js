// Start-analysis form: show only the options of the chosen method.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_method");
    if (!select) { return; }
    function update() {
      document.querySelectorAll(".method-params").forEach(function (fs) {
        var shown = fs.getAttribute("data-method") === select.value;
        fs.classList.toggle("hidden", !shown);
        fs.disabled = !shown;
      });
    }
    select.addEventListener("change", update);
    update();
  });
})();
