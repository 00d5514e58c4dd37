/* One trial: the image at native resolution, its prompt, one scale per perspective, "Next".
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

  function smallest(list) {
    return list.reduce(function (a, b) { return b.width * b.height < a.width * a.height ? b : a; });
  }

  /* Whether (and how) the window fits: {fits, layout, need: the smallest window that would,
   * now: the window, screen_ok: whether this screen could ever show it}. Sizes in CSS px, the
   * numbers the participant's browser uses for its window. */
  function fit(image, panel, anyDevice, size) {
    var list = needs(image, panel, dpr(), anyDevice);
    var now = size || viewport();
    var ok = list.filter(function (n) { return n.width <= now.width && n.height <= now.height; });
    var need = ok.length ? ok[0] : smallest(list);
    return {
      fits: ok.length > 0,
      layout: need.layout,
      need: { width: need.width, height: need.height },
      now: now,
      screen_ok: need.width <= screen.width && need.height <= screen.height,
      image: image.width + " \u00d7 " + image.height,
      window: now.width + " \u00d7 " + now.height,
      minimum: need.width + " \u00d7 " + need.height
    };
  }

  /* Height of the real question panel at the panel width, with the longest prompt and hint. */
  function measurePanel(form, prompt, hints) {
    var promptEl = form.querySelector("#trial-prompt"), hintEl = form.querySelector("#trial-hint");
    var saved = { width: form.style.width, prompt: promptEl.textContent, hint: hintEl.textContent };
    form.style.width = PANEL_WIDTH + "px";
    if (prompt !== undefined && prompt !== null) promptEl.textContent = prompt;
    hintEl.textContent = (hints || []).reduce(function (a, b) { return b.length > a.length ? b : a; }, "");
    var height = Math.ceil(form.getBoundingClientRect().height);
    form.style.width = saved.width;
    promptEl.textContent = saved.prompt;
    hintEl.textContent = saved.hint;
    return { width: PANEL_WIDTH, height: height };
  }

  function hintTexts(texts) {
    return [texts.answer_all, texts.keep_looking, texts.ready, texts.loading].filter(Boolean);
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
      var measured = measurePanel(this.form, rule.prompt, hintTexts(this.texts));
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

  TrialView.prototype.complete = function () {
    return Object.keys(this.answers()).length === this.scales.length;
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
    else if (!this.complete()) this.hint.textContent = this.texts.answer_all;
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
    if (event.target && event.target.tagName === "INPUT" && event.target.type === "text") return;
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
      this.options.onSubmit(this.answers(), timing, this.trial);
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
