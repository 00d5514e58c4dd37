/* Display check: the window must show the session's largest image whole at one image pixel per
 * device pixel, with the real question panel beside, below or (any-device studies) under it: the
 * same rule as the trial page (trial.js), so the trials never refuse a window accepted here.
 * Says in the participant's terms what is wrong and waits; offers to leave when it cannot fit. */
(function () {
  "use strict";

  var T = window.Trial;
  var data = T.readJSON("display-data");
  var texts = T.readJSON("display-texts");
  var config = T.readJSON("trial-config");
  var status = document.getElementById("display-status");
  var button = document.getElementById("display-continue");
  var device = document.getElementById("display-device");
  var leave = document.getElementById("display-leave");
  var panel;

  function check() {
    var result = T.fit(data.largest, panel, data.any_device);
    var text = result.fits ? texts.fits : result.screen_ok ? texts.too_small : texts.use_computer;
    status.textContent = T.format(text, result);
    status.classList.toggle("error", !result.fits);
    status.classList.toggle("ok", result.fits);
    button.disabled = !result.fits;
    leave.classList.toggle("hidden", result.fits);
    device.value = JSON.stringify(Object.assign(T.deviceInfo(), {
      fits: result.fits, layout: result.layout, need: result.need
    }));
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector(".measure #trial-form");
    panel = T.measurePanel(form, data.longest_prompt, T.hintTexts(config.texts), data.longest_tokens);
    check();
    window.addEventListener("resize", check);
    T.onDprChange(check);
  });
})();
