// Analysis run page: live status while the run is pending or running (job-status.js), then the
// server-rendered results; sortable tables.
(function () {
  "use strict";

  function setProgress(bar, value) {
    var pct = Math.round(Math.max(0, Math.min(1, value || 0)) * 100);
    bar.querySelector("span").style.width = pct + "%";
    bar.setAttribute("aria-valuenow", String(pct));
  }

  function showStatus(data) {
    var badge = document.getElementById("run-badge");
    badge.textContent = data.status_label;
    badge.className = "run-badge run-" + data.status;
    document.getElementById("run-message").textContent = data.message;
    var error = document.getElementById("run-error");
    error.textContent = data.error;
    error.classList.toggle("hidden", !data.error);
    setProgress(document.getElementById("run-progress"), data.progress);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("run-status");
    var initial = JSON.parse(document.getElementById("run-status-data").textContent);
    setProgress(document.getElementById("run-progress"), initial.progress);
    if (!initial.finished) {
      window.JobStatus.follow(box.getAttribute("data-status-url"), function (data) {
        showStatus(data);
        // The results (plots, tables, downloads) are rendered by the server.
        if (data.finished) { window.location.reload(); }
      });
    }
    window.JobStatus.sortTables();
  });
})();
