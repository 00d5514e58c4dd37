// Study settings: add perspective, annotation task and question forms by cloning each formset's empty form,
// and keep the completion-URL hint in step with the chosen panel.
(function () {
  "use strict";
  function cloner(buttonId, templateId, totalId, listId, prefix) {
    var button = document.getElementById(buttonId);
    var template = document.getElementById(templateId);
    var total = document.getElementById(totalId);
    var list = document.getElementById(listId);
    if (!button || !template || !total || !list) return;
    var max = document.getElementById("id_" + prefix + "-MAX_NUM_FORMS");
    function full() { return max && parseInt(total.value, 10) >= parseInt(max.value, 10); }
    button.hidden = full();
    button.addEventListener("click", function () {
      if (full()) return;
      var index = parseInt(total.value, 10);
      var html = template.innerHTML.replace(/__prefix__/g, String(index));
      list.insertAdjacentHTML("beforeend", html);
      total.value = String(index + 1);
      button.hidden = full();
      var key = document.getElementById("id_" + prefix + "-" + index + "-key");
      if (key) key.focus();
    });
  }
  cloner("add-perspective", "perspective-template", "id_p-TOTAL_FORMS", "perspective-forms", "p");
  cloner("add-question", "question-template", "id_q-TOTAL_FORMS", "question-forms", "q");
  cloner("add-task", "task-template", "id_a-TOTAL_FORMS", "task-forms", "a");

  var panel = document.getElementById("id_panel");
  var url = document.getElementById("id_completion_url");
  var help = document.getElementById("id_completion_url_help");
  if (panel && url && help && url.dataset.help) {
    var hints = JSON.parse(url.dataset.help);
    panel.addEventListener("change", function () {
      help.textContent = hints[panel.value] || "";
    });
  }

  // Jump to the first field with an error after a refused save.
  var firstError = document.querySelector(".field.has-error");
  if (firstError) {
    firstError.scrollIntoView({ block: "center" });
    var input = firstError.querySelector("input, select, textarea");
    if (input) input.focus();
  }
})();
