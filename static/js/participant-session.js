/* The participant's trial page: shows the session's trials in their fixed order and sends every
 * answer exactly once.
 *
 * Each answer goes into a queue kept in localStorage (with its idempotency key) before it is sent,
 * so a reload, a closed tab or a lost connection loses nothing: the queue is sent in order and
 * retried with jittered exponential backoff. An answer leaves the queue only when the server says
 * it holds it (201 stored, 200 the same key and answers stored before); an expired CSRF token (403)
 * is refreshed and the answer sent again; an answer the server refuses for good (400, a 409
 * conflict) stops the queue with a message in words and a way to go on. The next image is shown at
 * once (it was preloaded); sending happens in the background.
 */
(function () {
  "use strict";

  var T = window.Trial;
  var data = T.readJSON("session-data");
  var config = T.readJSON("trial-config");
  var texts = T.readJSON("session-texts") || {};
  var STORE = "aigc-pending:" + data.token;
  var MAX_BACKOFF = 30000;
  var FIRST_BACKOFF = 1000;

  var queue = load();
  var trials = data.trials;
  var pos = 0;
  var sending = false;
  var backoff = FIRST_BACKOFF;
  var csrfRefreshed = false;
  var refused = false;
  var retryTimer = null;
  var finishing = false;
  var view;

  var el = {
    banner: document.getElementById("net-banner"),
    bar: document.getElementById("progress-bar"),
    progress: document.getElementById("progress"),
    progressText: document.getElementById("progress-text"),
    overlay: document.getElementById("overlay"),
    overlayTitle: document.getElementById("overlay-title"),
    overlayText: document.getElementById("overlay-text"),
    overlayContinue: document.getElementById("overlay-continue"),
    trial: document.getElementById("trial")
  };

  function load() {
    try {
      var items = JSON.parse(localStorage.getItem(STORE) || "[]");
      // Answers below the server's position are stored already (their response was lost).
      items = items.filter(function (item) { return item.index >= data.current_index; });
      // The rest must follow on from the server's position; a gap can never be sent in order.
      var kept = [];
      items.forEach(function (item) {
        if (item.index === data.current_index + kept.length) kept.push(item);
      });
      return kept;
    } catch (e) {
      return [];
    }
  }

  function save() {
    try { localStorage.setItem(STORE, JSON.stringify(queue)); } catch (e) { /* private mode: memory only */ }
  }

  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16)); // also on plain-http lab networks
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // --- Sending ----------------------------------------------------------------------------
  function banner(text, kind) {
    el.banner.textContent = text || "";
    el.banner.classList.toggle("hidden", !text);
    el.banner.classList.toggle("banner-error", kind === "error");
  }

  function scheduleRetry(delay) {
    clearTimeout(retryTimer);
    // Jitter: many participants cut off by the same outage must not all come back at once.
    var wait = delay || backoff * (0.5 + Math.random());
    retryTimer = setTimeout(flush, wait);
    backoff = Math.min(backoff * 2, MAX_BACKOFF);
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      // The server's messages (a refused answer) in the session's language.
      headers: { "Content-Type": "application/json", "X-CSRFToken": data.csrf, "Accept-Language": data.language },
      body: JSON.stringify(body)
    });
  }

  function refreshCsrf() {
    return fetch(data.csrf_url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (body) { if (body.csrf) data.csrf = body.csrf; });
  }

  function flush() {
    if (sending || refused) return;
    if (!queue.length) { if (finishing) leave(); return; }
    sending = true;
    clearTimeout(retryTimer);
    var item = queue[0];
    post(data.submit_url, item).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { status: response.status, body: body };
      });
    }).then(function (result) {
      sending = false;
      handle(result);
    }, function () {
      sending = false;
      failed();
    });
  }

  function handle(result) {
    var status = result.status, body = result.body || {};
    if (status === 200 || status === 201) {
      // The server holds this answer (201 now, 200 stored before with the same key and answers).
      queue.shift();
      save();
      backoff = FIRST_BACKOFF;
      csrfRefreshed = false;
      banner("");
      if (body.status === "screened_out") { queue = []; save(); leave(); return; }
      flush();
    } else if (status === 403 && !csrfRefreshed) {
      // The CSRF token expired (a new login elsewhere, a long pause): fetch a fresh one, send again.
      csrfRefreshed = true;
      refreshCsrf().then(flush, failed);
    } else if (status === 403) {
      // Still refused with a fresh token (cookies blocked?): the answers stay queued for a reload.
      stop(texts.forbidden, texts.reload);
    } else if (status === 409 && body.code === "out_of_order") {
      window.location.reload(); // the server is elsewhere in the session: show its position
    } else if (status === 409 && body.code === "already_answered") {
      // Answered from another device first: the server keeps that answer; go on where it is.
      queue = [];
      save();
      window.location.reload();
    } else if (status === 409 && body.code === "not_rating") {
      queue = [];
      leave();
    } else if (status === 400 || status === 404 || status === 409) {
      refuse(body.detail);
    } else {
      failed(); // 403 again, 429, 5xx: transient, try again later
    }
  }

  function failed() {
    banner(texts.offline);
    scheduleRetry();
  }

  /* The server refuses this answer for good: say so, keep nothing that cannot be sent in order,
   * and let the participant answer again from where the server is. */
  function refuse(detail) {
    queue = [];
    save();
    stop(T.format(texts.refused, { detail: detail || "" }), texts.answer_again);
  }

  /* Stop sending; say why, with a button that reloads the page (which sends what is still queued). */
  function stop(text, action) {
    refused = true;
    clearTimeout(retryTimer);
    banner(text, "error");
    var again = document.createElement("button");
    again.type = "button";
    again.className = "primary";
    again.id = "refused-reload";
    again.textContent = action;
    again.onclick = function () { window.location.reload(); };
    el.banner.appendChild(document.createTextNode(" "));
    el.banner.appendChild(again);
  }

  function leave() {
    try { localStorage.removeItem(STORE); } catch (e) { /* nothing kept */ }
    window.location.assign(data.session_url);
  }

  // --- Showing ----------------------------------------------------------------------------
  var trainingTotal = data.training_count;
  var ratingTotal = data.trial_count - trainingTotal;

  function progress(trial, answered) {
    var done, total, label;
    if (trial.kind === "training") {
      done = trial.index + (answered ? 1 : 0); total = trainingTotal;
      label = T.format(texts.practice, { n: trial.index + 1, total: trainingTotal });
    } else {
      done = trial.index - trainingTotal + (answered ? 1 : 0); total = ratingTotal;
      label = T.format(texts.progress, { n: trial.index - trainingTotal + 1, total: ratingTotal });
    }
    var percent = total ? Math.round((100 * done) / total) : 0;
    el.bar.style.width = percent + "%";
    el.progress.setAttribute("aria-valuenow", String(percent));
    el.progress.classList.toggle("practice", trial.kind === "training");
    el.progressText.textContent = label;
  }

  function preload(trial) {
    if (!trial) return;
    var img = new Image();
    img.src = trial.url;
    if (img.decode) img.decode().catch(function () { /* shown later anyway */ });
  }

  function showCurrent() {
    var trial = trials[pos];
    el.trial.classList.remove("hidden");
    view.show(trial);
    progress(trial);
    preload(trials[pos + 1]);
    preload(trials[pos + 2]);
  }

  /* A message between trials; `beside` keeps the trial (and its image) in view (practice feedback). */
  function overlay(title, html, onContinue, beside) {
    el.trial.classList.toggle("hidden", !beside);
    el.overlay.classList.toggle("overlay-beside", !!beside);
    el.overlayTitle.textContent = title;
    el.overlayText.textContent = "";
    html.forEach(function (line) {
      var p = document.createElement("p");
      p.textContent = line;
      el.overlayText.appendChild(p);
    });
    el.overlayContinue.classList.toggle("hidden", !onContinue);
    el.overlay.classList.remove("hidden");
    el.overlayContinue.onclick = function () {
      el.overlay.classList.add("hidden");
      onContinue();
    };
    if (onContinue) el.overlayContinue.focus();
  }

  function referenceText(value) {
    // A reference is one score or an accepted range [low, high].
    return Array.isArray(value) ? value.join("\u2013") : String(value);
  }

  function feedback(trial, scores) {
    var lines = [];
    config.perspectives.forEach(function (p) {
      if (trial.reference && trial.reference[p.key] !== undefined && trial.reference[p.key] !== null) {
        lines.push(T.format(texts.reference, { label: p.label, yours: scores[p.key], reference: referenceText(trial.reference[p.key]) }));
      }
    });
    if (lines.length && texts.training_feedback) lines.unshift(texts.training_feedback);
    return lines;
  }

  function advance() {
    pos += 1;
    var previous = trials[pos - 1];
    var current = trials[pos];
    if (!current) { finish(); return; }
    if (previous.kind === "training" && current.kind !== "training") {
      overlay(texts.practice_done_title, [texts.practice_done], showCurrent);
      return;
    }
    var done = current.index - trainingTotal;
    if (data.break_every > 0 && current.kind !== "training" && done > 0 && done % data.break_every === 0) {
      overlay(texts.break_title, [T.format(texts.break_text, { n: done, total: ratingTotal })], showCurrent);
      return;
    }
    showCurrent();
  }

  function finish() {
    finishing = true;
    overlay(texts.saving_title, [texts.saving], null);
    flush();
  }

  function answered(scores, timing, trial, annotations) {
    var item = {
      index: trial.index,
      stimulus: trial.stimulus,
      scores: scores,
      key: uuid4(),
      viewing_ms: timing.viewing_ms,
      response_ms: timing.response_ms,
      client_time: new Date().toISOString()
    };
    // The marks travel with the scores: one queued item, one key, sent (and resent) together.
    if (annotations) item.annotations = annotations;
    queue.push(item);
    save();
    flush();
    progress(trial, true);
    var lines = trial.kind === "training" ? feedback(trial, scores) : [];
    if (lines.length) overlay(texts.reference_title, lines, advance, true);
    else advance();
  }

  function deviceChanged(device) {
    post(data.device_url, device).catch(function () { /* informational only */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    view = new T.View(el.trial, config, {
      onSubmit: answered,
      onDeviceChange: deviceChanged,
      rule: { largest: data.largest, prompt: data.longest_prompt, tokens: data.longest_tokens, accepted: data.accepted }
    });
    window.addEventListener("online", function () { backoff = FIRST_BACKOFF; flush(); });
    // Continue after the last answer this browser holds (sent or not).
    var last = queue.length ? queue[queue.length - 1].index : data.current_index - 1;
    while (pos < trials.length && trials[pos].index <= last) pos += 1;
    if (pos >= trials.length) { finish(); return; }
    showCurrent();
    flush();
  });
})();
