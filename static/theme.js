// The theme chosen in this browser (system, light or dark). A classic
// script in <head>, so the choice applies before the first paint; the
// button in the header (app.js) changes it.
try {
  const theme = localStorage.getItem('letterbox:theme');
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
} catch {
  // Storage disabled: the system's theme.
}
