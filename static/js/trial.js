/* One trial: the image at native resolution, its prompt, one scale per perspective, "Next".
 *
 * Used by the participant's trial page (participant-session.js drives it) and by the researcher's
 * preview (no #session-data on the page: nothing is sent; "Next" only says the answers are complete).
 * Reads its configuration from <script id="trial-config" type="application/json">.
 */
(function () {
  "use strict";

  var PANEL_WIDTH = 380; // CSS px of the question panel beside the image (participant.css)
  var GAP = 24;

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function format(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, key) { return values[key]; });
  }

  function dpr() { return window.devicePixelRatio || 1; }

  function deviceInfo() {
    return {
      screen: { width: screen.width, height: screen.height },
      dpr: dpr(),
      viewport: { width: window.innerWidth, height: window.innerHeight },
      user_agent: navigator.userAgent,
      color_depth: screen.colorDepth,
      touch: navigator.maxTouchPoints || 0,
      language: navigator.language || ""
    };
  }

  /* Whether the window shows an image of width x height image pixels whole at one image pixel per
   * device pixel, with the questions beside it (or below it). Sizes in the message are device pixels. */
  function fit(width, height, panelHeight, top) {
    var ratio = dpr();
    var cssW = width / ratio, cssH = height / ratio;
    var vw = document.documentElement.clientWidth || window.innerWidth;
    var vh = window.innerHeight;
    top = top || 0;
    var beside = cssW + PANEL_WIDTH + 3 * GAP <= vw && Math.max(cssH, panelHeight) + 2 * GAP + top <= vh;
    var below = Math.max(cssW, 320) + 2 * GAP <= vw && cssH + panelHeight + 3 * GAP + top <= vh;
    return {
      fits: beside || below,
      layout: beside ? "beside" : "below",
      window: Math.round(vw * ratio) + "x" + Math.round(vh * ratio),
      image: width + "x" + height
    };
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

  TrialView.prototype.layout = function () {
    if (!this.trial) return;
    var ratio = dpr();
    // Native resolution: CSS size = image pixels / devicePixelRatio.
    this.img.style.width = this.trial.width / ratio + "px";
    this.img.style.height = this.trial.height / ratio + "px";
    var top = this.root.getBoundingClientRect().top + window.scrollY;
    var result = fit(this.trial.width, this.trial.height, this.form.scrollHeight, top);
    this.root.classList.toggle("layout-below", result.layout === "below");
    this.fits = result.fits;
    this.blocker.classList.toggle("hidden", result.fits);
    this.blockerText.textContent = result.fits ? "" : format(this.texts.too_small, result);
    if (ratio !== this.lastDpr) {
      this.lastDpr = ratio;
      if (this.options.onDeviceChange) this.options.onDeviceChange(Object.assign(deviceInfo(), { fits: result.fits }));
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
    if (!this.fits) this.hint.textContent = "";
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

  window.Trial = { View: TrialView, fit: fit, deviceInfo: deviceInfo, onDprChange: onDprChange, readJSON: readJSON, format: format };

  // Preview: the include on a page without a participant session.
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("trial");
    var config = readJSON("trial-config");
    if (!root || !config || document.getElementById("session-data")) return;
    var view = new TrialView(root, config, {});
    view.show(config.stimulus);
  });
})();
