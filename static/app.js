// Progressive enhancement only: every page works without this file.
// Copy buttons: shown when the clipboard is available, they copy their data-copy text.
document.querySelectorAll("[data-copy]").forEach((button) => {
  if (!navigator.clipboard) return;
  const label = button.textContent;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select and copy it";
    }
    setTimeout(() => { button.textContent = label; }, 2000);
  });
});

// The "Hello, USERNAME" menu as a disclosure button. With this script it
// alone decides (the stylesheet's hover and focus rules step aside), so
// aria-expanded always says what is shown: a click, tap, Enter or Space
// toggles it and pins it open; hovering opens it until the pointer leaves;
// Escape, a click elsewhere or focus moving away close it.
document.querySelectorAll(".user-menu").forEach((menu) => {
  const button = menu.querySelector(".user-menu-trigger");
  let pinned = false;
  const set = (open) => {
    menu.dataset.open = String(open);
    button.setAttribute("aria-expanded", String(open));
    if (!open) pinned = false;
  };
  menu.classList.add("scripted");
  set(false);
  button.addEventListener("click", () => {
    pinned = !pinned;
    set(pinned);
  });
  menu.addEventListener("mouseenter", () => { if (menu.dataset.open !== "true") set(true); });
  menu.addEventListener("mouseleave", () => { if (!pinned && !menu.contains(document.activeElement)) set(false); });
  menu.addEventListener("focusout", (event) => { if (!menu.contains(event.relatedTarget)) set(false); });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu.dataset.open === "true") {
      const inside = menu.contains(document.activeElement);
      set(false);
      if (inside) button.focus();
    }
  });
  document.addEventListener("click", (event) => { if (!menu.contains(event.target)) set(false); });
});
