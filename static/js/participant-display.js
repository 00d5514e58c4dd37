/* Display check: the window must show the session's largest image whole at one image pixel per
 * device pixel, with the questions beside or below it. Says exactly what is wrong and waits. */
(function () {
  "use strict";

  var T = window.Trial;
  var data = T.readJSON("display-data");
  var texts = T.readJSON("display-texts");
  var status = document.getElementById("display-status");
  var button = document.getElementById("display-continue");
  var device = document.getElementById("display-device");
  // Height of the prompt and questions beside the image, as the trial page lays them out.
  var panelHeight = 170 + 130 * data.perspectives;

  function check() {
    var result = T.fit(data.largest.width, data.largest.height, panelHeight, 0);
    status.textContent = T.format(result.fits ? texts.fits : texts.too_small, result);
    status.classList.toggle("error", !result.fits);
    status.classList.toggle("ok", result.fits);
    button.disabled = !result.fits;
    device.value = JSON.stringify(Object.assign(T.deviceInfo(), { fits: result.fits }));
  }

  document.addEventListener("DOMContentLoaded", function () {
    check();
    window.addEventListener("resize", check);
    T.onDprChange(check);
  });
})();
