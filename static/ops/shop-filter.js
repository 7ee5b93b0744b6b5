// The dead-letter list's shop box: suggestions from the console's own shop list as you
// type (a native <datalist>), picked with the keyboard or a tap; Enter or "Show" filters.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const input = document.getElementById("shop-filter-input");
  const list = document.getElementById("shop-choices");
  if (!input || !list) return;
  let asked = "";
  input.addEventListener("input", async () => {
    const term = input.value.trim().toLowerCase();
    if (term.length < 2 || term === asked) return;
    asked = term;
    const answer = await fetch(`${input.dataset.source}?term=${encodeURIComponent(term)}`, {credentials: "same-origin"});
    if (!answer.ok || asked !== term) return;
    const {shops} = await answer.json();
    list.replaceChildren(...shops.map((domain) => Object.assign(document.createElement("option"), {value: domain})));
  });
});
