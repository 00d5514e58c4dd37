// Metric benchmark page: follows the job until it ends, then reloads (job-status.js); sortable tables.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var initial = JSON.parse(document.getElementById("bench-status-data").textContent);
    if (!initial.finished) {
      var box = document.getElementById("bench-status");
      window.JobStatus.follow(box.getAttribute("data-status-url"), function (data) {
        if (data.finished) { window.location.reload(); }
      });
    }
    window.JobStatus.sortTables();
  });
})();
