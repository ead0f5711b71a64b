// Where Letterbox is served: `/`, or the --webroot (such as `/mail/`) that
// a reverse proxy forwards. It is the folder above this module's static/.
const root = new URL('../', import.meta.url);

/** The path (and query) of `path`, given without a leading slash, under
 *  the webroot: `at('api/v1/messages')` is `/mail/api/v1/messages` there. */
export function at(path) {
  const url = new URL(path, root);
  return url.pathname + url.search;
}
