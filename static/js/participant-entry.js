/* Entry page: before consent, tell a participant whose screen can never show the study's images
 * at full size (the layout rule of trial.js, with the screen's own size) and send them back to the
 * panel; nothing is allocated. Also reports an iPad (which claims to be a Mac) to the server. */
(function () {
  "use strict";

  var T = window.Trial;

  document.addEventListener("DOMContentLoaded", function () {
    var data = T.readJSON("entry-data");
    if (!data) return;
    var touchMac = navigator.maxTouchPoints > 1 && /Macintosh/.test(navigator.userAgent);
    document.getElementById("touch-mac").value = touchMac ? "1" : "0";
    // The real question panel (hidden), the study's largest image and longest prompt, against the
    // whole screen: a window can grow to the screen, a screen cannot grow. The display check,
    // after consent, judges the window itself by the same rule.
    var form = document.querySelector(".measure #trial-form");
    var config = T.readJSON("trial-config");
    var panel = form ? T.measurePanel(form, data.longest_prompt, T.hintTexts(config.texts), data.longest_tokens)
      : { width: T.PANEL_WIDTH, height: 0 };
    var result = T.fit(data.largest, panel, data.any_device, { width: screen.width, height: screen.height });
    if (result.fits && !(touchMac && !data.any_device)) return;
    document.getElementById("entry").classList.add("hidden");
    document.getElementById("screen-refusal-text").textContent = T.format(data.texts.use_computer, result);
    document.getElementById("screen-refusal").classList.remove("hidden");
  });
})();
