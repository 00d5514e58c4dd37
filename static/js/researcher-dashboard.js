// Live dashboard: fetch the JSON figures every few seconds and update numbers, histogram bars and
// the per-perspective table.
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root) return;
  var url = root.dataset.url;
  var updated = document.getElementById("dash-updated");
  var INTERVAL = 5000;

  function update(data) {
    root.querySelectorAll("[data-key]").forEach(function (el) {
      var value = data[el.dataset.key];
      if (value !== undefined && value !== null) el.textContent = String(value);
    });
    var bins = document.querySelectorAll("#histogram g.bin");
    if (bins.length !== data.bars.length) { window.location.reload(); return; }
    data.bars.forEach(function (b, i) {
      var g = bins[i];
      var rect = g.querySelector("rect");
      rect.setAttribute("y", b.y);
      rect.setAttribute("height", b.h);
      rect.querySelector("title").textContent = b.stimuli + " stimuli with " + b.label + " ratings";
      var count = g.querySelector("text.count");
      count.setAttribute("y", b.ty);
      count.textContent = b.stimuli;
    });
    (data.perspectives || []).forEach(function (p, i) {
      var row = document.querySelector('#perspective-progress tr[data-perspective="' + i + '"]');
      if (!row) return;
      row.querySelectorAll("[data-field]").forEach(function (cell) {
        var value = p[cell.dataset.field];
        if (value !== undefined && value !== null) cell.textContent = String(value);
      });
    });
    var qc = document.getElementById("qc-list");
    if (qc) {
      qc.textContent = "";
      var kinds = Object.keys(data.qc_failures);
      kinds.forEach(function (k) {
        var li = document.createElement("li");
        li.textContent = k + ": " + data.qc_failures[k];
        qc.appendChild(li);
      });
      if (!kinds.length) {
        var none = document.createElement("li");
        none.className = "muted";
        none.textContent = "none";
        qc.appendChild(none);
      }
    }
    if (updated) updated.textContent = "Last update " + new Date(data.generated_at).toLocaleTimeString() + ".";
  }

  function tick() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(update)
      .catch(function () { if (updated) updated.textContent = "Update failed; retrying."; })
      .finally(function () { window.setTimeout(tick, INTERVAL); });
  }
  window.setTimeout(tick, INTERVAL);
})();
