// The JSON API calls the pages make (Mailpit's paths and shapes).

import { at } from './root.js';

async function call(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) {
    let message = `${method} ${path}: ${response.status}`;
    try {
      message = (await response.json()).Error || message;
    } catch {
      // Not JSON: keep the status line.
    }
    throw new Error(message);
  }
  const text = await response.text();
  // Changes answer Mailpit's plain `ok`: only JSON is parsed.
  return text && (response.headers.get('Content-Type') || '').includes('json') ? JSON.parse(text) : null;
}

/** One page of the mail (of one `inbox`, if given), or of a search when
 *  `query` is not empty. */
export function listPage(query, start, limit, inbox) {
  const params = new URLSearchParams({ start, limit, additions: 1 }); // with each summary's Inbox
  if (inbox) params.set('inbox', inbox);
  if (query) {
    params.set('query', query);
    return call('GET', at(`api/v1/search?${params}`));
  }
  return call('GET', at(`api/v1/messages?${params}`));
}

/** How many messages are unread, in every inbox. */
export async function unreadCount() {
  return (await call('GET', at('api/v1/messages?limit=1'))).unread;
}

export function setRead(ids, read) {
  return call('PUT', at('api/v1/messages'), { IDs: ids, Read: read });
}

/** Marks every message, or every match of `query`, in `inbox` if given. */
export function setReadAll(query, inbox, read) {
  const params = inbox ? `?${new URLSearchParams({ inbox })}` : '';
  return call('PUT', at(`api/v1/messages${params}`), query ? { Search: query, Read: read } : { Read: read });
}

/** Replaces the tags of the messages `ids`. */
export function setTags(ids, tags) {
  return call('PUT', at('api/v1/tags'), { IDs: ids, Tags: tags });
}

export function deleteMessages(ids) {
  return call('DELETE', at('api/v1/messages'), { IDs: ids });
}

/** Deletes every message, or every match of `query`, in `inbox` if given. */
export function deleteAll(query, inbox) {
  const params = new URLSearchParams();
  if (inbox) params.set('inbox', inbox);
  if (query) {
    params.set('query', query);
    return call('DELETE', at(`api/v1/search?${params}`));
  }
  const text = params.toString();
  return call('DELETE', at(text ? `api/v1/messages?${text}` : 'api/v1/messages'));
}

/** Queues the message for delivery through the relay to `to`. */
export function release(id, to) {
  return call('POST', at(`api/v1/message/${encodeURIComponent(id)}/release`), { To: to });
}

/** The message's releases and their attempts. */
export function relayStatus(id) {
  return call('GET', at(`api/v1/message/${encodeURIComponent(id)}/relay`));
}

/** Whether a message still exists. */
export async function exists(id) {
  const response = await fetch(at(`api/v1/message/${encodeURIComponent(id)}/headers`));
  return response.ok;
}

/** Lifts every chaos rule. */
export function liftChaos() {
  return call('PUT', at('api/v1/chaos'), {});
}
