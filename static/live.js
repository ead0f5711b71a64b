// The WebSocket to /api/events: reconnects with backoff, and reports every
// (re)connection so the page can catch up on what it missed.

import { at } from './root.js';

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;

/**
 * Connects and keeps connected; with `inbox`, `new` events come only for
 * that inbox's messages.
 * - onEvent({Type, Data}) for each event;
 * - onConnected() after each successful (re)connection: time to resync;
 * - onState('connecting' | 'live' | 'offline', retryInMs).
 * Returns `retryNow()`, which skips the wait before the next attempt.
 */
export function connect({ inbox, onEvent, onConnected, onState }) {
  let failures = 0;
  let retryTimer = null;

  function open() {
    retryTimer = null;
    onState('connecting');
    const url = new URL(at('api/events'), location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    if (inbox) url.searchParams.set('inbox', inbox);
    url.searchParams.set('additions', '1'); // Letterbox's fields and events, beside Mailpit's
    const socket = new WebSocket(url);
    socket.addEventListener('open', () => {
      failures = 0;
      onState('live');
      onConnected();
    });
    socket.addEventListener('message', (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event && typeof event.Type === 'string') onEvent(event);
    });
    socket.addEventListener('close', () => {
      // Exponential backoff with jitter, so many tabs do not reconnect in step.
      const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** failures);
      const delay = Math.round(base * (0.5 + Math.random() / 2));
      failures += 1;
      onState('offline', delay);
      retryTimer = setTimeout(open, delay);
    });
  }

  function retryNow() {
    if (retryTimer !== null) {
      clearTimeout(retryTimer);
      open();
    }
  }

  // A tab coming back from sleep should not wait out a long backoff.
  window.addEventListener('online', retryNow);
  open();
  return retryNow;
}
