// The staff app's own few lines (no inline script: the pages' CSP allows only this origin's files).
// Nothing here decides anything: the server checks every form again. These lines keep what a person
// types (a file too large, a text too long, a session that expired, Back then submit).
(function () {
  "use strict";

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

  // Each text's limit (the model's, written on the field) counted as the person types; over it, the
  // field says by how much and the browser will not send the form (nothing is cut off).
  function count(field) {
    var most = parseInt(field.getAttribute("data-max-chars"), 10);
    var lines = parseInt(field.getAttribute("data-max-lines") || "0", 10);
    var counter = document.getElementById(field.getAttribute("data-counter"));
    var value = field.value, problem = "", said;
    if (lines) {
      var items = value.split("\n").filter(function (l) { return l.trim() !== ""; });
      var longest = 0, at = 0;
      items.forEach(function (l, i) { var n = Array.from(l.trim()).length; if (n > longest) { longest = n; at = i; } });
      said = "已填 " + items.length + " 行（最多 " + lines + " 行，每行最多 " + most + " 字）";
      if (items.length > lines) { problem = "最多 " + lines + " 行，现在 " + items.length + " 行，请删减"; }
      else if (longest > most) { problem = "第 " + (at + 1) + " 行太长：每行最多 " + most + " 字，现在 " + longest + " 字，请删减"; }
    } else {
      var n = Array.from(value.trim()).length;
      said = "已输入 " + n + " / " + most + " 字";
      if (n > most) { problem = "最多 " + most + " 字，现在 " + n + " 字，请删减 " + (n - most) + " 字"; }
    }
    field.setCustomValidity(problem);
    if (counter) {
      counter.textContent = problem || said;
      counter.classList.toggle("over", problem !== "");
    }
  }
  function countAll() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-max-chars]"), count);
  }
  document.addEventListener("input", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-max-chars")) { count(event.target); }
  });

  // Drafts. What a person types in a case form is kept in this browser tab (sessionStorage: never on
  // disk after the tab closes, never sent anywhere) until the confirmation that the form was taken, so a
  // session that expired while they typed, or a refusal, loses nothing: after signing in again the form
  // opens filled in, and says so. Each draft belongs to the person signed in; another person signing in
  // in the same tab clears them, and so does signing out.
  var PREFIX = "crisisflow.draft:";
  var storage = null;
  try { storage = window.sessionStorage; } catch (e) { storage = null; }
  var owner = document.body.getAttribute("data-draft-owner");

  function keys() {
    var found = [];
    if (!storage) { return found; }
    for (var i = 0; i < storage.length; i++) {
      if (storage.key(i).indexOf(PREFIX) === 0) { found.push(storage.key(i)); }
    }
    return found;
  }
  function slot(kind, path) { return PREFIX + kind + ":" + owner + ":" + path; }
  function read(name) {
    try { return JSON.parse(storage.getItem(name) || "null"); } catch (e) { return null; }
  }
  function fields(form) {
    var kept = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "hidden" || el.type === "file" || el.type === "submit") { return; }
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) { return; }
      kept.push([el.name, el.value]);
    });
    return kept;
  }
  function fill(form, kept) {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "hidden" || el.type === "file" || el.type === "submit") { return; }
      var values = kept.filter(function (p) { return p[0] === el.name; }).map(function (p) { return p[1]; });
      if (el.type === "radio" || el.type === "checkbox") { el.checked = values.indexOf(el.value) >= 0; }
      else if (values.length) { el.value = values[0]; }
    });
  }
  function fingerprint(kept) { return JSON.stringify(kept); }

  if (storage) {
    if (owner) {  // signed in: another person's drafts in this tab go
      keys().forEach(function (name) {
        if (name.split(":")[2] !== owner) { storage.removeItem(name); }
      });
    }
    var done = document.querySelector("[data-draft-done]");
    if (done && owner) { storage.removeItem(slot("form", done.getAttribute("data-draft-done"))); }
    var historyVisit = (performance.getEntriesByType("navigation")[0] || {}).type === "back_forward";

    Array.prototype.forEach.call(document.querySelectorAll("form[data-draft]"), function (form) {
      var path = form.getAttribute("data-draft");
      var draft = read(slot("form", path));
      if (draft && form.hasAttribute("data-draft-fresh") && !historyVisit) {
        fill(form, draft.fields);
        var told = document.createElement("p");
        told.className = "notice";
        told.id = "draft-restored";
        told.setAttribute("role", "status");
        told.textContent = "已恢复您在此页填写但尚未提交的内容，请核对后提交。";
        form.insertBefore(told, form.firstChild);
      }
      function keep() { storage.setItem(slot("form", path), JSON.stringify({fields: fields(form)})); }
      form.addEventListener("input", keep);
      form.addEventListener("change", keep);
      form.addEventListener("submit", function () {
        keep();
        // Back, then the same form sent again: it goes under the key it was first sent with, so the
        // server gives the first answer again and records nothing twice.
        var key = form.querySelector("input[name=key]");
        if (!key) { return; }
        var print = fingerprint(fields(form)), sent = read(slot("sent", path));
        if (historyVisit && sent && sent.print === print) { key.value = sent.key; }
        else { storage.setItem(slot("sent", path), JSON.stringify({print: print, key: key.value})); }
      });
    });
    var signout = document.getElementById("signout");
    if (signout) {
      signout.form.addEventListener("submit", function () { keys().forEach(function (n) { storage.removeItem(n); }); });
    }
  }
  countAll();

  // A review report's live count against its minimum (whitespace not counted, as the server counts).
  function reportCount(form) {
    var most = parseInt(form.getAttribute("data-report-min"), 10), total = 0;
    Array.prototype.forEach.call(form.querySelectorAll("[data-report-section]"), function (section) {
      total += Array.from(section.value.replace(/\s+/g, "")).length;
    });
    var counter = document.getElementById("report-count");
    counter.textContent = total >= most ? "已写 " + total + " 字，已达到提交要求（至少 " + most + " 字，不计空白）"
      : "已写 " + total + " 字，还差 " + (most - total) + " 字才能提交（至少 " + most + " 字，不计空白）";
    counter.classList.toggle("over", total < most);
  }
  Array.prototype.forEach.call(document.querySelectorAll("form[data-report-min]"), function (form) {
    reportCount(form);
    form.addEventListener("input", function () { reportCount(form); });
  });

  // A value to copy (the TOTP secret at enrolment): copied without its spaces, and the button says so.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button || !navigator.clipboard) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    navigator.clipboard.writeText(source.textContent.replace(/\s+/g, "")).then(function () {
      button.textContent = button.getAttribute("data-copied");
    });
  });

  // On a phone the header is one row: the menu opens from 菜单 (without this script it stays open).
  var toggle = document.getElementById("menu-toggle"), menu = document.getElementById("menu");
  if (toggle && menu && window.matchMedia("(max-width: 759px)").matches) {
    toggle.hidden = false;
    toggle.setAttribute("aria-expanded", "false");
    menu.classList.add("collapsed");
    toggle.addEventListener("click", function () {
      var open = menu.classList.toggle("collapsed") === false;
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
})();
