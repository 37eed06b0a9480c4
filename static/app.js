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

// The "Hello, USERNAME" menu as a disclosure: click, Enter or Space toggles
// it (Safari does not focus a clicked button, so focus alone is not enough),
// Escape closes it and returns to the button; hover still opens it.
document.querySelectorAll(".user-menu").forEach((menu) => {
  const button = menu.querySelector(".user-menu-trigger");
  const set = (open) => {
    menu.dataset.open = String(open);
    button.setAttribute("aria-expanded", String(open));
  };
  button.addEventListener("click", () => set(menu.dataset.open !== "true"));
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu.dataset.open !== "false") {
      set(false);
      button.focus();
    }
  });
  // Leaving the menu hands it back to hover and focus.
  menu.addEventListener("mouseleave", () => { if (menu.dataset.open === "false") delete menu.dataset.open; });
  menu.addEventListener("focusout", (event) => {
    if (!menu.contains(event.relatedTarget)) {
      delete menu.dataset.open;
      button.setAttribute("aria-expanded", "false");
    }
  });
});
