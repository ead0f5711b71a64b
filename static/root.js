// Where Letterbox is served: `/`, or the --webroot (such as `/mail/`) that
// a reverse proxy forwards. It is the folder above this module's static/.
const root = new URL('../', import.meta.url);

/** The path (and query) of `path`, given without a leading slash, under
 *  the webroot: `at('api/v1/messages')` is `/mail/api/v1/messages` there. */
export function at(path) {
  const url = new URL(path, root);
  return url.pathname + url.search;
}

// The list page (inbox, search and page) this tab last showed, so that a
// message page leads back to it rather than to the first page of all mail.
// Kept per tab in sessionStorage; the Referer cannot tell, as every page is
// served with `Referrer-Policy: no-referrer`.
const LIST_KEY = 'letterbox:list';

/** Remembers the current page as the list to go back to. */
export function rememberList() {
  try {
    sessionStorage.setItem(LIST_KEY, location.pathname + location.search);
  } catch {
    // Storage may be disabled: the way back is then the first page.
  }
}

/** The list to go back to: the remembered one, or the first page. */
export function listToReturnTo() {
  let remembered = null;
  try {
    remembered = sessionStorage.getItem(LIST_KEY);
  } catch {
    // As above.
  }
  const home = at('');
  // Only a list page under this webroot: nothing else can be stored here,
  // but a stale entry from another webroot must not lead elsewhere.
  const [path] = (remembered ?? '').split('?');
  return remembered && path === home ? remembered : home;
}

/** The list page showing `query` in `inbox` from `start` on, `pageSize`
 *  rows long (as src/web/ui/inbox.rs `href` makes it). */
export function listHref(query, inbox, start, pageSize = 50) {
  const params = new URLSearchParams();
  if (query) params.set('q', query);
  if (inbox) params.set('inbox', inbox);
  if (start > 0) params.set('start', start);
  if (pageSize !== 50) params.set('limit', pageSize);
  const text = params.toString();
  return at(text ? `?${text}` : '');
}

// The rows the list showed (`{ids, start, pageSize, matched, query,
// inbox}`), so that the message page can open their neighbours, and the
// message last shown, so that going back selects its row.
const ROWS_KEY = 'letterbox:rows';
const LEFT_KEY = 'letterbox:left';

function store(key, value) {
  try {
    sessionStorage.setItem(key, value);
  } catch {
    // Storage may be disabled: next/previous and reselection then do nothing.
  }
}

function load(key) {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

export function rememberRows(rows) {
  store(ROWS_KEY, JSON.stringify(rows));
  store(LIST_KEY, listHref(rows.query, rows.inbox, rows.start, rows.pageSize));
}

export function rememberedRows() {
  try {
    const rows = JSON.parse(load(ROWS_KEY));
    return rows && Array.isArray(rows.ids) ? rows : null;
  } catch {
    return null;
  }
}

/** Remembers the message shown, for its row to be selected back in the list. */
export function rememberLeft(id) {
  store(LEFT_KEY, id);
}

export function leftMessage() {
  return load(LEFT_KEY);
}
