/* Pilot page: while the pilot runs, poll its status and reload the page when it has finished. */
(function () {
  "use strict";
  var box = document.getElementById("pilot-status");
  var data = document.getElementById("pilot-status-data");
  if (!box || !data) return;
  var status = JSON.parse(data.textContent);
  if (status.finished) return;
  var badge = document.getElementById("pilot-badge");
  var message = document.getElementById("pilot-message");

  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.finished) { window.location.reload(); return; }
        badge.textContent = s.label;
        message.textContent = s.message;
        setTimeout(poll, 1000);
      }, function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
