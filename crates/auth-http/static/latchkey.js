// Latchkey's pages work without JavaScript; this only stops a form from being sent twice.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  // Downloads leave the page as it is: they may be sent again.
  if (form.hasAttribute("data-repeatable")) {
    return;
  }
  if (form.dataset.sent === "1") {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
});

// Copy buttons (`data-copy` names the element whose text is copied); hidden without JavaScript.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button.js-copy").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    if (!source) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = source.textContent.trim();
      var done = function () { button.textContent = "Copied!"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () {});
        return;
      }
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      if (document.execCommand("copy")) {
        done();
      }
    });
  });
});
