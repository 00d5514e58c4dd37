/* Completion page: go back to the panel after a short pause (the link does the same at once). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var data = JSON.parse(document.getElementById("finish-data").textContent);
    if (data.redirect_url) setTimeout(function () { window.location.assign(data.redirect_url); }, data.delay_ms);
  });
})();
