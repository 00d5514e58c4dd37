// Start-analysis form: show only the options of the chosen method.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var radios = document.querySelectorAll("input[name=method]");
    if (!radios.length) { return; }
    function chosen() {
      var value = "";
      radios.forEach(function (r) { if (r.checked) { value = r.value; } });
      return value;
    }
    function update() {
      var method = chosen();
      document.querySelectorAll(".method-params").forEach(function (fs) {
        var shown = fs.getAttribute("data-method") === method;
        fs.classList.toggle("hidden", !shown);
        fs.disabled = !shown;
      });
    }
    radios.forEach(function (r) { r.addEventListener("change", update); });
    update();
  });
})();
