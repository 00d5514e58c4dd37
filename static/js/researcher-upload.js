// Stimulus upload: an upload progress bar (XMLHttpRequest upload.onprogress), then the import
// job's progress by polling its status URL; the problems of a refused import are listed.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var detail = document.getElementById("import-detail");
  var jobBar = document.getElementById("job-bar");
  var jobMessage = document.getElementById("job-message");
  var result = document.getElementById("upload-result");

  function setBar(bar, fraction) {
    if (bar) bar.style.width = Math.round(Math.max(0, Math.min(1, fraction)) * 100) + "%";
  }

  function showResult(data) {
    result.classList.remove("hidden");
    result.textContent = "";
    var p = document.createElement("p");
    if (data.status === "done") {
      p.className = "ok";
      p.textContent = data.message + ". ";
      var a = document.createElement("a");
      a.href = data.gallery_url;
      a.textContent = "Open the gallery";
      p.appendChild(a);
      result.appendChild(p);
      return;
    }
    p.className = "error";
    p.textContent = data.message + ". Fix these problems and upload again:";
    result.appendChild(p);
    var list = document.createElement("ol");
    list.className = "problems";
    (data.problems || []).forEach(function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      list.appendChild(li);
    });
    result.appendChild(list);
  }

  function poll(url) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) {
        setBar(jobBar, data.progress);
        if (jobMessage) jobMessage.textContent = data.message;
        var status = document.getElementById("import-status");
        if (status) status.textContent = data.status_display;
        if (data.finished) {
          showResult(data);
          if (form) form.querySelector("button[type=submit]").disabled = false;
        } else {
          window.setTimeout(function () { poll(url); }, 1000);
        }
      })
      .catch(function () { window.setTimeout(function () { poll(url); }, 3000); });
  }

  if (detail) {
    var initial = JSON.parse(document.getElementById("import-initial").textContent);
    setBar(jobBar, initial.progress);
    if (!initial.finished) poll(detail.dataset.statusUrl);
    return;
  }
  if (!form) return;

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var box = document.getElementById("upload-progress");
    var bar = document.getElementById("upload-bar");
    var percent = document.getElementById("upload-percent");
    var phase = document.getElementById("upload-phase");
    var button = form.querySelector("button[type=submit]");
    box.classList.remove("hidden");
    result.classList.add("hidden");
    button.disabled = true;
    setBar(bar, 0);
    setBar(jobBar, 0);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (e) {
      if (!e.lengthComputable) return;
      setBar(bar, e.loaded / e.total);
      percent.textContent = Math.round((100 * e.loaded) / e.total) + "%";
    };
    xhr.onload = function () {
      var data = {};
      try { data = JSON.parse(xhr.responseText); } catch (err) { data = {}; }
      if (xhr.status === 202) {
        setBar(bar, 1);
        percent.textContent = "100%";
        phase.textContent = "Uploaded; checking and importing";
        jobMessage.textContent = "Waiting for a worker";
        poll(data.status_url);
      } else {
        button.disabled = false;
        showResult({ status: "failed", message: "The upload was refused", problems: data.errors || ["HTTP " + xhr.status] });
      }
    };
    xhr.onerror = function () {
      button.disabled = false;
      showResult({ status: "failed", message: "The upload failed (network error)", problems: [] });
    };
    xhr.send(new FormData(form));
  });
})();
