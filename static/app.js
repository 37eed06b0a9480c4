// Progressive enhancement only: every page works without this file.
// Copy buttons: shown when the clipboard is available, they copy their data-copy text.
document.querySelectorAll("[data-copy]").forEach((button) => {
  if (!navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select and copy the key";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
});
