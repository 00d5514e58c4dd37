// Analysis run page: live status (polls the JSON endpoint while the run is pending or running)
// and click-to-sort tables. No library.
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

  function poll(box, initial) {
    var url = box.getAttribute("data-status-url");
    var delay = 700;
    function tick() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) {
          showStatus(data);
          if (data.finished) {
            // The results (plots, tables, downloads) are rendered by the server.
            if (!initial.finished) { window.location.reload(); }
            return;
          }
          window.setTimeout(tick, delay);
        })
        .catch(function () { delay = Math.min(delay * 2, 10000); window.setTimeout(tick, delay); });
    }
    tick();
  }

  function cellValue(row, index, numeric) {
    var cell = row.children[index];
    var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
    if (!numeric) { return raw.toLowerCase(); }
    var x = parseFloat(raw);
    return isNaN(x) ? Number.NEGATIVE_INFINITY : x;
  }

  function makeSortable(table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, index) {
      th.classList.add("sort-head");
      th.setAttribute("tabindex", "0");
      th.setAttribute("aria-sort", "none");
      function sort() {
        var numeric = th.getAttribute("data-type") === "number";
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
          var c = x < y ? -1 : x > y ? 1 : 0;
          return ascending ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("run-status");
    var initial = JSON.parse(document.getElementById("run-status-data").textContent);
    setProgress(document.getElementById("run-progress"), initial.progress);
    if (!initial.finished) { poll(box, initial); }
    document.querySelectorAll("table.sortable").forEach(makeSortable);
  });
})();
