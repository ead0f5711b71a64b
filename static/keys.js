// Keyboard shortcuts: `?` lists them, `/` searches; the page handles the rest.

export function installKeys(page) {
  const dialog = document.getElementById('shortcuts');
  const search = document.getElementById('search');
  document.getElementById('help-button')?.addEventListener('click', () => dialog.showModal());

  document.addEventListener('keydown', (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target;
    const typing = target.closest?.('input, textarea, select, [contenteditable]');
    if (typing) {
      if (event.key === 'Escape' && target === search) search.blur();
      return;
    }
    if (dialog.open) return; // Esc closes it natively.
    // Enter on a link or button does what it always does.
    if (event.key === 'Enter' && target.closest?.('a, button')) return;
    let handled = true;
    if (event.key === '?') dialog.showModal();
    else if (event.key === '/') search.focus();
    else handled = page?.onKey(event.key) ?? false;
    if (handled) event.preventDefault();
  });
}
