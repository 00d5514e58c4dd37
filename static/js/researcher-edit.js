// Study settings: add a perspective form by cloning the formset's empty form.
(function () {
  "use strict";
  var button = document.getElementById("add-perspective");
  var template = document.getElementById("perspective-template");
  var total = document.getElementById("id_p-TOTAL_FORMS");
  var list = document.getElementById("perspective-forms");
  if (!button || !template || !total || !list) return;
  button.addEventListener("click", function () {
    var index = parseInt(total.value, 10);
    var html = template.innerHTML.replace(/__prefix__/g, String(index));
    list.insertAdjacentHTML("beforeend", html);
    total.value = String(index + 1);
    var key = document.getElementById("id_p-" + index + "-key");
    if (key) key.focus();
  });
})();
