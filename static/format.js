// How values look on a page: the same formats as src/web/ui/format.rs, for
// rows the script builds itself.

/** `512 B`, `1.2 KB`, `34 MB` (powers of 1024). */
export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : value.toFixed(0)} ${units[unit]}`;
}

/** `just now`, `5 min ago`, `3 h ago`, `yesterday`, `2 days ago`, then the date. */
export function relativeTime(date, now = Date.now()) {
  const secs = Math.max(0, Math.floor((now - date.getTime()) / 1000));
  if (secs < 45) return 'just now';
  if (secs < 3600) return `${Math.floor((secs + 30) / 60)} min ago`;
  if (secs < 86400) return `${Math.floor(secs / 3600)} h ago`;
  if (secs < 604800) {
    const days = Math.floor(secs / 86400);
    return days === 1 ? 'yesterday' : `${days} days ago`;
  }
  return date.toISOString().slice(0, 10);
}

/** A row shows this much of a field (as src/web/ui/inbox.rs does): a
 *  sender can make a subject megabytes long. */
const MAX_FIELD_SHOWN = 1000;

/** `text` cut to MAX_FIELD_SHOWN characters, with `…` when it was cut. */
export function shorten(text) {
  return text.length > MAX_FIELD_SHOWN ? `${text.slice(0, MAX_FIELD_SHOWN)}…` : text;
}

/** `Name <address>`, or the address alone. */
export function fullAddress(a) {
  const name = (a?.Name ?? '').trim();
  const address = (a?.Address ?? '').trim();
  if (!name) return address;
  if (!address) return name;
  return `${name} <${address}>`;
}

/** The name if there is one, else the address. */
export function shortAddress(a) {
  const name = (a?.Name ?? '').trim();
  return name || (a?.Address ?? '').trim();
}

/** Sets a `<time datetime>` element's relative text and local exact title. */
export function showTime(element, iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return;
  element.dateTime = iso;
  element.textContent = relativeTime(date);
  element.title = date.toLocaleString();
}

/** Brings every relative time on the page up to date. */
export function refreshTimes(root = document) {
  for (const element of root.querySelectorAll('time[datetime]')) {
    showTime(element, element.dateTime);
  }
}
