// Shared by the pages of background jobs (analysis runs, metric benchmarks): follow a job's status
// JSON until it finishes, and click-to-sort tables. No library. Exposes window.JobStatus.
(function () {
  "use strict";

  // Calls onData(data) with each status until data.finished; backs off while the server is away.
  function follow(url, onData) {
    var delay = 700;
    function tick() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) {
          delay = 700;
          onData(data);
          if (!data.finished) { window.setTimeout(tick, delay); }
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

  window.JobStatus = {
    follow: follow,
    sortTables: function () { document.querySelectorAll("table.sortable").forEach(makeSortable); }
  };
})();
