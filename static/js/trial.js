/* One trial: the image at native resolution, its prompt, one scale per perspective, the study's
 * annotation tasks (regions: points on the image; words: the prompt's tokens as toggles), "Next".
 *
 * Used by the participant's trial page (participant-session.js drives it) and by the researcher's
 * preview (no #session-data on the page: nothing is sent; "Next" only says the answers are complete).
 * Reads its configuration from <script id="trial-config" type="application/json">.
 */
(function () {
  "use strict";

  // The one layout rule, shared by the entry page, the display check and the trial page.
  // CSS px; they mirror participant.css (.trial-top height, .trials-main padding, .trial gap).
  var PANEL_WIDTH = 380; // the question panel beside the image
  var GAP = 24;
  var TOP = 40; // the progress bar above the trial
  var PHONE_PAD = 8; // "stacked" (any-device studies): the image stays on top, the questions scroll
  var PHONE_MIN_WIDTH = 300;
  var PHONE_PANEL_MIN = 180; // the questions' room still visible under the image

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function format(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, key) { return values[key]; });
  }

  function dpr() { return window.devicePixelRatio || 1; }

  function viewport() {
    return { width: document.documentElement.clientWidth || window.innerWidth, height: window.innerHeight };
  }

  function deviceInfo() {
    return {
      screen: { width: screen.width, height: screen.height },
      dpr: dpr(),
      viewport: viewport(),
      user_agent: navigator.userAgent,
      color_depth: screen.colorDepth,
      touch: navigator.maxTouchPoints || 0,
      language: navigator.language || ""
    };
  }

  /* The window (CSS px) each layout needs to show an image of image.width x image.height image
   * pixels whole at one image pixel per device pixel, with the question panel (panel.height CSS
   * px tall at panel.width) beside it, below it, or (phones, any-device studies) under it. */
  function needs(image, panel, ratio, anyDevice) {
    var w = Math.ceil(image.width / ratio), h = Math.ceil(image.height / ratio);
    var list = [
      { layout: "beside", width: w + panel.width + 3 * GAP, height: TOP + Math.max(h, panel.height) + 2 * GAP },
      { layout: "below", width: Math.max(w, panel.width) + 2 * GAP, height: TOP + h + panel.height + 3 * GAP }
    ];
    if (anyDevice) {
      list.push({ layout: "stacked", width: Math.max(w, PHONE_MIN_WIDTH) + 2 * PHONE_PAD, height: TOP + h + PHONE_PANEL_MIN + 2 * PHONE_PAD });
    }
    return list;
  }

  /* The layout nearest to fitting `now` (fewest pixels short, then the smaller): what the
   * participant is told to make their window, or what their screen lacks. */
  function nearest(list, now) {
    function short(n) { return Math.max(0, n.width - now.width) + Math.max(0, n.height - now.height); }
    return list.reduce(function (a, b) {
      var d = short(b) - short(a);
      return d < 0 || (d === 0 && b.width * b.height < a.width * a.height) ? b : a;
    });
  }

  /* Whether (and how) the window fits: {fits, layout, need: the window that would (the nearest layout when none does),
   * now: the window, screen_ok: whether this screen could ever show it}. Sizes in CSS px, the
   * numbers the participant's browser uses for its window. */
  function fit(image, panel, anyDevice, size) {
    var list = needs(image, panel, dpr(), anyDevice);
    var now = size || viewport();
    var ok = list.filter(function (n) { return n.width <= now.width && n.height <= now.height; });
    // When none fits: the nearest of the layouts this screen can show (resizing the window helps),
    // else the nearest of all (the screen itself is too small).
    var onScreen = list.filter(function (n) { return n.width <= screen.width && n.height <= screen.height; });
    var need = ok.length ? ok[0] : nearest(onScreen.length ? onScreen : list, now);
    return {
      fits: ok.length > 0,
      layout: need.layout,
      need: { width: need.width, height: need.height },
      now: now,
      screen_ok: onScreen.length > 0,
      image: image.width + " \u00d7 " + image.height,
      window: now.width + " \u00d7 " + now.height,
      minimum: need.width + " \u00d7 " + need.height
    };
  }

  /* Height of the real question panel at the panel width, with the longest prompt and hint (and,
   * with a words task, the longest prompt's word toggles: `tokens`). */
  function measurePanel(form, prompt, hints, tokens) {
    var promptEl = form.querySelector("#trial-prompt"), hintEl = form.querySelector("#trial-hint");
    var tokensEl = form.querySelector(".tokens");
    var saved = { width: form.style.width, prompt: promptEl.textContent, hint: hintEl.textContent };
    var savedTokens = tokensEl ? Array.prototype.slice.call(tokensEl.childNodes) : null;
    form.style.width = PANEL_WIDTH + "px";
    if (prompt !== undefined && prompt !== null) promptEl.textContent = prompt;
    if (tokensEl && tokens) renderTokens(tokensEl, tokens);
    hintEl.textContent = (hints || []).reduce(function (a, b) { return b.length > a.length ? b : a; }, "");
    var height = Math.ceil(form.getBoundingClientRect().height);
    form.style.width = saved.width;
    promptEl.textContent = saved.prompt;
    hintEl.textContent = saved.hint;
    if (savedTokens) tokensEl.replaceChildren.apply(tokensEl, savedTokens);
    return { width: PANEL_WIDTH, height: height };
  }

  /* The words task's toggles, one per token (indices as the server's tokenize_prompt gives them). */
  function renderTokens(container, tokens) {
    container.textContent = "";
    tokens.forEach(function (token, i) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "token";
      b.dataset.index = String(i);
      b.setAttribute("aria-pressed", "false");
      b.textContent = token;
      container.appendChild(b);
    });
  }

  function hintTexts(texts) {
    return [texts.answer_all, texts.answer_tasks, texts.keep_looking, texts.ready, texts.loading].filter(Boolean);
  }

  function onDprChange(callback) {
    // A zoom changes devicePixelRatio; matchMedia tells us, resize usually does too.
    var query = null;
    function watch() {
      if (query) query.removeEventListener("change", changed);
      query = window.matchMedia("(resolution: " + dpr() + "dppx)");
      query.addEventListener("change", changed);
    }
    function changed() { watch(); callback(); }
    watch();
  }

  function TrialView(root, config, options) {
    this.root = root;
    this.config = config;
    this.options = options || {};
    this.texts = config.texts;
    this.img = root.querySelector("#trial-image");
    this.promptEl = root.querySelector("#trial-prompt");
    this.form = root.querySelector("#trial-form");
    this.next = root.querySelector("#trial-next");
    this.hint = root.querySelector("#trial-hint");
    this.blocker = root.querySelector("#trial-blocker");
    this.blockerText = root.querySelector("#trial-blocker-text");
    this.scales = Array.prototype.slice.call(root.querySelectorAll(".scale"));
    this.canvas = root.querySelector("#trial-canvas");
    this.marksEl = root.querySelector("#trial-marks");
    this.crosshair = root.querySelector("#trial-crosshair");
    this.tasks = Array.prototype.slice.call(root.querySelectorAll(".task")).map(function (el) {
      return {
        el: el, key: el.dataset.key, kind: el.dataset.kind, none: el.querySelector(".task-none"),
        tokensEl: el.querySelector(".tokens"), countEl: el.querySelector(".task-count"),
        points: [], tokens: [], nothing: false
      };
    });
    this.cross = { x: 0.5, y: 0.5 };
    this.trial = null;
    this.shownAt = null;
    this.lastAnswerAt = null;
    this.viewed = false;
    this.fits = true;
    this.busy = false;
    this.lastDpr = dpr();
    this.bind();
  }

  TrialView.prototype.bind = function () {
    var self = this;
    this.form.addEventListener("change", function () { self.answerChanged(); });
    this.form.addEventListener("input", function (event) {
      if (event.target.type === "range") event.target.closest(".scale").classList.add("touched");
      self.answerChanged();
    });
    this.form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.submit();
    });
    document.addEventListener("keydown", function (event) { self.key(event); });
    window.addEventListener("resize", function () { self.layout(); });
    onDprChange(function () { self.layout(); });
    this.img.addEventListener("load", function () { self.imageShown(); });
    this.img.addEventListener("error", function () { self.imageFailed(); });
    this.tasks.forEach(function (task) { self.bindTask(task); });
  };

  // --- Annotation tasks --------------------------------------------------------------------
  TrialView.prototype.regions = function () {
    return this.tasks.filter(function (t) { return t.kind === "regions"; })[0] || null;
  };

  TrialView.prototype.bindTask = function (task) {
    var self = this;
    task.none.addEventListener("click", function () {
      // "Nothing to mark" / "all words shown" is an answer of its own: it clears the marks.
      task.nothing = !task.nothing;
      if (task.nothing) { task.points = []; task.tokens = []; }
      self.taskChanged(task);
    });
    if (task.kind === "words") {
      task.tokensEl.addEventListener("click", function (event) {
        var b = event.target.closest(".token");
        if (!b) return;
        var i = Number(b.dataset.index), at = task.tokens.indexOf(i);
        if (at >= 0) task.tokens.splice(at, 1); else task.tokens.push(i);
        task.nothing = false;
        self.taskChanged(task);
      });
      return;
    }
    this.canvas.addEventListener("click", function (event) {
      var mark = event.target.closest(".trial-mark");
      if (mark) { self.removePoint(task, Number(mark.dataset.index)); return; }
      var rect = self.img.getBoundingClientRect();
      if (!rect.width || !rect.height) return;
      self.addPoint(task, (event.clientX - rect.left) / rect.width, (event.clientY - rect.top) / rect.height);
    });
    this.canvas.addEventListener("keydown", function (event) { self.canvasKey(task, event); });
  };

  function clamp01(v) { return Math.min(1, Math.max(0, v)); }

  TrialView.prototype.addPoint = function (task, x, y) {
    if (!this.trial || this.busy) return;
    if (task.points.length >= this.config.max_points) { this.taskChanged(task, true); return; }
    task.points.push([clamp01(x), clamp01(y)]);
    task.nothing = false;
    this.taskChanged(task);
  };

  TrialView.prototype.removePoint = function (task, i) {
    if (!this.trial || this.busy || i < 0 || i >= task.points.length) return;
    task.points.splice(i, 1);
    this.taskChanged(task);
  };

  /* Keyboard marking on the focused image: arrows move the cross (Shift: finer), Enter or Space
   * marks its spot, Delete or Backspace removes the last mark. */
  TrialView.prototype.canvasKey = function (task, event) {
    if (event.altKey || event.ctrlKey || event.metaKey || !this.trial) return;
    var w = this.img.getBoundingClientRect().width || 1, h = this.img.getBoundingClientRect().height || 1;
    var step = event.shiftKey ? 1 : 10; // CSS px
    var moves = { ArrowLeft: [-step / w, 0], ArrowRight: [step / w, 0], ArrowUp: [0, -step / h], ArrowDown: [0, step / h] };
    if (moves[event.key]) {
      this.cross.x = clamp01(this.cross.x + moves[event.key][0]);
      this.cross.y = clamp01(this.cross.y + moves[event.key][1]);
      this.drawCross();
    } else if (event.key === "Enter" || event.key === " ") {
      this.addPoint(task, this.cross.x, this.cross.y);
    } else if (event.key === "Delete" || event.key === "Backspace") {
      this.removePoint(task, task.points.length - 1);
    } else {
      return;
    }
    event.preventDefault(); // no scrolling, no "Next" on Enter
  };

  TrialView.prototype.drawCross = function () {
    if (!this.crosshair) return;
    this.crosshair.style.left = this.cross.x * 100 + "%";
    this.crosshair.style.top = this.cross.y * 100 + "%";
  };

  TrialView.prototype.drawTask = function (task, full) {
    var texts = this.texts;
    task.none.setAttribute("aria-pressed", task.nothing ? "true" : "false");
    task.el.classList.toggle("answered", this.taskAnswer(task) !== null);
    if (task.kind === "words") {
      Array.prototype.forEach.call(task.tokensEl.querySelectorAll(".token"), function (b) {
        b.setAttribute("aria-pressed", task.tokens.indexOf(Number(b.dataset.index)) >= 0 ? "true" : "false");
      });
      return;
    }
    var n = task.points.length;
    task.countEl.textContent = full ? format(texts.max_marks, { n: n })
      : n === 0 ? texts.no_marks : n === 1 ? texts.one_mark : format(texts.marks, { n: n });
    this.marksEl.textContent = "";
    var marksEl = this.marksEl;
    task.points.forEach(function (p, i) {
      var b = document.createElement("button");
      b.type = "button";
      b.tabIndex = -1; // the keyboard removes marks with Delete on the image
      b.className = "trial-mark";
      b.dataset.index = String(i);
      b.style.left = p[0] * 100 + "%";
      b.style.top = p[1] * 100 + "%";
      b.textContent = String(i + 1);
      b.setAttribute("aria-label", format(texts.remove_mark, { n: i + 1 }));
      marksEl.appendChild(b);
    });
  };

  TrialView.prototype.taskChanged = function (task, full) {
    this.drawTask(task, full);
    this.answerChanged();
  };

  /* A task's answer in the submission's shape, or null while it has none. */
  TrialView.prototype.taskAnswer = function (task) {
    if (task.kind === "regions") {
      if (!task.nothing && !task.points.length) return null;
      return { points: task.points.map(function (p) { return [p[0], p[1]]; }), nothing: task.nothing };
    }
    if (!task.nothing && !task.tokens.length) return null;
    return { tokens: task.tokens.slice().sort(function (a, b) { return a - b; }), nothing: task.nothing };
  };

  /* {task key: answer} of every task (null when the study has none). */
  TrialView.prototype.annotations = function () {
    if (!this.tasks.length) return null;
    var self = this, result = {};
    this.tasks.forEach(function (task) { result[task.key] = self.taskAnswer(task); });
    return result;
  };

  TrialView.prototype.tasksComplete = function () {
    var self = this;
    return this.tasks.every(function (task) { return self.taskAnswer(task) !== null; });
  };

  TrialView.prototype.resetTasks = function (trial) {
    var self = this;
    this.cross = { x: 0.5, y: 0.5 };
    this.drawCross();
    this.tasks.forEach(function (task) {
      task.points = [];
      task.tokens = [];
      task.nothing = false;
      if (task.kind === "words" && trial.tokens) renderTokens(task.tokensEl, trial.tokens);
      self.drawTask(task);
    });
  };

  TrialView.prototype.show = function (trial) {
    this.trial = trial;
    this.root.dataset.index = trial.index === undefined ? "" : String(trial.index);
    this.root.dataset.kind = trial.kind || "";
    this.viewed = false;
    this.shownAt = null;
    this.lastAnswerAt = null;
    this.busy = false;
    clearTimeout(this.viewTimer);
    this.form.reset();
    this.scales.forEach(function (s) { s.classList.remove("touched"); });
    this.promptEl.textContent = trial.prompt;
    this.resetTasks(trial);
    this.img.width = trial.width;
    this.img.height = trial.height;
    this.layout();
    var url = new URL(trial.url, window.location.href).href;
    if (this.img.src !== url) {
      this.img.classList.add("loading");
      this.img.src = url;
    } else if (this.img.complete && this.img.naturalWidth) {
      this.imageShown();
    }
    this.update();
    this.focusScale(0);
  };

  TrialView.prototype.imageShown = function () {
    var self = this;
    if (!this.trial || this.shownAt !== null) return;
    this.img.classList.remove("loading");
    this.shownAt = performance.now();
    this.viewTimer = setTimeout(function () { self.viewed = true; self.update(); }, this.config.min_viewing_ms);
    this.layout();
    this.update();
  };

  TrialView.prototype.imageFailed = function () {
    // Offline or a slow server: try the same (immutable) URL again shortly.
    var self = this, url = this.img.src;
    this.hint.textContent = this.texts.loading;
    setTimeout(function () { if (self.img.src === url && self.shownAt === null) { self.img.src = ""; self.img.src = url; } }, 2000);
  };

  /* Lay the trial out by the shared rule, from the session's largest image and the real panel
   * (options.rule: {largest, prompt, accepted}); block it, with the reason, when the window is too
   * small. A window at least as large as the one the display check accepted is never refused. */
  TrialView.prototype.layout = function () {
    if (!this.trial) return;
    var ratio = dpr();
    // Native resolution: CSS size = image pixels / devicePixelRatio.
    this.img.style.width = this.trial.width / ratio + "px";
    this.img.style.height = this.trial.height / ratio + "px";
    var rule = this.options.rule || {};
    if (!this.panel) {
      var measured = measurePanel(this.form, rule.prompt, hintTexts(this.texts), rule.tokens);
      if (measured.height) this.panel = measured; // 0 while hidden: measure again later
    }
    var image = rule.largest || { width: this.trial.width, height: this.trial.height };
    var result = fit(image, this.panel || { width: PANEL_WIDTH, height: 0 }, !!this.config.any_device);
    var accepted = rule.accepted;
    if (!result.fits && accepted && accepted.dpr === ratio && accepted.layout &&
        result.now.width >= accepted.viewport.width && result.now.height >= accepted.viewport.height) {
      result.fits = true;
      result.layout = accepted.layout;
    }
    this.root.classList.toggle("layout-below", result.layout === "below");
    this.root.classList.toggle("layout-stacked", result.layout === "stacked");
    document.body.classList.toggle("layout-stacked", result.layout === "stacked");
    this.layoutName = result.layout;
    this.fits = result.fits;
    this.blocker.classList.toggle("hidden", result.fits);
    this.blockerText.textContent = result.fits ? "" : format(result.screen_ok ? this.texts.too_small : this.texts.use_computer, result);
    if (ratio !== this.lastDpr) {
      this.lastDpr = ratio;
      if (this.options.onDeviceChange) this.options.onDeviceChange(Object.assign(deviceInfo(), { fits: result.fits, layout: result.layout }));
    }
    this.update();
  };

  TrialView.prototype.answers = function () {
    var result = {};
    this.scales.forEach(function (scale) {
      var key = scale.dataset.key;
      var checked = scale.querySelector("input[type=radio]:checked");
      var range = scale.querySelector("input[type=range]");
      if (checked) result[key] = Number(checked.value);
      else if (range && scale.classList.contains("touched")) result[key] = Number(range.value);
    });
    return result;
  };

  TrialView.prototype.scalesComplete = function () {
    return Object.keys(this.answers()).length === this.scales.length;
  };

  TrialView.prototype.complete = function () {
    return this.scalesComplete() && this.tasksComplete();
  };

  TrialView.prototype.answerChanged = function () {
    this.lastAnswerAt = performance.now();
    this.scales.forEach(function (scale) {
      var answered = scale.querySelector("input[type=radio]:checked") || scale.classList.contains("touched");
      scale.classList.toggle("answered", !!answered);
    });
    this.update();
  };

  TrialView.prototype.ready = function () {
    return this.complete() && this.viewed && this.fits && !this.busy;
  };

  TrialView.prototype.update = function () {
    this.next.disabled = !this.ready();
    if (!this.trial) return;
    if (!this.fits || this.busy) this.hint.textContent = "";
    else if (this.shownAt === null) this.hint.textContent = this.texts.loading;
    else if (!this.scalesComplete()) this.hint.textContent = this.texts.answer_all;
    else if (!this.tasksComplete()) this.hint.textContent = this.texts.answer_tasks;
    else if (!this.viewed) this.hint.textContent = this.texts.keep_looking;
    else this.hint.textContent = this.texts.ready;
  };

  TrialView.prototype.focusScale = function (i) {
    var scale = this.scales[i];
    if (!scale) { this.next.focus(); return; }
    var input = scale.querySelector("input:checked") || scale.querySelector("input");
    if (input) input.focus({ preventScroll: true });
  };

  TrialView.prototype.key = function (event) {
    if (!this.trial || this.busy || !this.fits || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.defaultPrevented) return; // the image's own keys (marking)
    if (event.target && event.target.tagName === "INPUT" && event.target.type === "text") return;
    // A task's toggle takes Enter as a click, as any button does.
    if (event.key === "Enter" && event.target && event.target.closest && event.target.closest(".task button")) return;
    if (this.root.closest(".hidden")) return;
    if (event.key === "Enter") {
      event.preventDefault();
      if (this.ready()) this.submit();
      return;
    }
    if (!/^[0-9]$/.test(event.key) || this.config.scale.kind !== "integer") return;
    var active = document.activeElement && document.activeElement.closest ? document.activeElement.closest(".scale") : null;
    var index = active ? this.scales.indexOf(active) : this.scales.findIndex(function (s) { return !s.classList.contains("answered"); });
    if (index < 0) return;
    var radio = this.scales[index].querySelector("input[value='" + event.key + "']");
    if (!radio) return;
    event.preventDefault();
    radio.checked = true;
    this.answerChanged();
    var nextOpen = this.scales.findIndex(function (s, i) { return i > index && !s.classList.contains("answered"); });
    if (nextOpen < 0) nextOpen = this.scales.findIndex(function (s) { return !s.classList.contains("answered"); });
    this.focusScale(nextOpen < 0 ? this.scales.length : nextOpen);
  };

  TrialView.prototype.submit = function () {
    if (!this.ready()) { this.update(); return; }
    var now = performance.now();
    var timing = {
      viewing_ms: Math.round(now - this.shownAt),
      // answers given while the image was still loading count from its display
      response_ms: Math.max(0, Math.round((this.lastAnswerAt || now) - this.shownAt))
    };
    if (this.options.onSubmit) {
      this.busy = true;
      this.update();
      this.options.onSubmit(this.answers(), timing, this.trial, this.annotations());
    } else {
      this.hint.textContent = this.texts.preview_complete;
    }
  };

  window.Trial = {
    View: TrialView, fit: fit, needs: needs, measurePanel: measurePanel, hintTexts: hintTexts,
    deviceInfo: deviceInfo, onDprChange: onDprChange, readJSON: readJSON, format: format, PANEL_WIDTH: PANEL_WIDTH
  };

  // Preview: the include on a page without a participant session.
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("trial");
    var config = readJSON("trial-config");
    if (!root || !config || document.getElementById("session-data") || root.closest(".measure")) return;
    var view = new TrialView(root, config, {});
    view.show(config.stimulus);
  });
})();
