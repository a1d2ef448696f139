// The admin console's small enhancements. Every page works without them: a resumed action
// shows its Continue button, a copy button stays hidden, and rows are ticked one by one.
"use strict";

// An action resumed after "Confirm it's you" or a confirmation question is sent on at once.
for (const form of document.querySelectorAll("form[data-resume]")) {
  form.submit();
}

// Copy buttons beside one-time secrets and identifiers.
for (const button of document.querySelectorAll("button[data-copy]")) {
  const source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      button.textContent = "Copied";
    } catch {
      window.getSelection().selectAllChildren(source);
      button.textContent = "Press Ctrl+C";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
}

// "Select all on this page" above a table of ticked rows.
for (const all of document.querySelectorAll("input[data-select-all]")) {
  const boxes = () => document.querySelectorAll(`input[name="${all.dataset.selectAll}"]`);
  all.closest("[hidden]")?.removeAttribute("hidden");
  const sync = () => {
    const list = [...boxes()];
    const ticked = list.filter((b) => b.checked).length;
    all.checked = list.length > 0 && ticked === list.length;
    all.indeterminate = ticked > 0 && ticked < list.length;
  };
  all.addEventListener("change", () => {
    for (const b of boxes()) b.checked = all.checked;
  });
  for (const b of boxes()) b.addEventListener("change", sync);
  sync();
}
