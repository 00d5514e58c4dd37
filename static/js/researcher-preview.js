// Preview fallback: show the image at native resolution (one image pixel per device pixel).
(function () {
  "use strict";
  var img = document.getElementById("preview-image");
  if (!img) return;
  function fit() {
    var dpr = window.devicePixelRatio || 1;
    img.style.width = (img.naturalWidth / dpr) + "px";
    img.style.height = (img.naturalHeight / dpr) + "px";
  }
  if (img.complete) fit(); else img.addEventListener("load", fit);
  window.addEventListener("resize", fit);
})();
