// The staff app's own few lines (no inline script: the pages' CSP allows only this origin's files).
// A file larger than the server takes is refused here, before it is sent: the form and what was typed stay.
document.addEventListener("submit", function (event) {
  var inputs = event.target.querySelectorAll("input[type=file][data-max-bytes]");
  for (var i = 0; i < inputs.length; i++) {
    var input = inputs[i], max = parseInt(input.getAttribute("data-max-bytes"), 10);
    var error = document.getElementById(input.getAttribute("aria-describedby"));
    var tooLarge = input.files.length > 0 && input.files[0].size > max;
    if (error) { error.hidden = !tooLarge; }
    if (tooLarge) { event.preventDefault(); input.focus(); return; }
  }
}, true);
