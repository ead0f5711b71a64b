// Noticing new mail while looking at something else: a "New: subject"
// notice on message pages, and desktop notifications, which are asked for
// only when the user clicks the bell (and remembered in this browser).

import { at } from './root.js';
import { shorten } from './format.js';

const ENABLED_KEY = 'letterbox:notifications';

function enabled() {
  try {
    return localStorage.getItem(ENABLED_KEY) === 'on' && window.Notification?.permission === 'granted';
  } catch {
    return false;
  }
}

function messageHref(id) {
  return at(`message/${encodeURIComponent(id)}`);
}

/** The bell in the header: turns desktop notifications on and off. */
export function installBell() {
  const bell = document.getElementById('notify-toggle');
  if (!bell) return;
  if (!window.Notification) {
    bell.hidden = true;
    return;
  }
  const show = () => bell.setAttribute('aria-pressed', String(enabled()));
  show();
  bell.addEventListener('click', async () => {
    try {
      if (enabled()) {
        localStorage.setItem(ENABLED_KEY, 'off');
      } else if ((await window.Notification.requestPermission()) === 'granted') {
        localStorage.setItem(ENABLED_KEY, 'on');
      }
    } catch {
      // Storage disabled: notifications stay off.
    }
    show();
  });
}

/** A desktop notification for a new message, while the page is not in
 *  front; clicking it opens the message here. */
export function notifyNew(summary) {
  if (!enabled() || (document.hasFocus() && document.visibilityState === 'visible')) return;
  const from = summary.From?.Name || summary.From?.Address || '';
  const note = new window.Notification(shorten(summary.Subject || '(no subject)'), {
    body: shorten(from ? `From ${from}` : ''),
    tag: `letterbox-${summary.ID}`,
  });
  note.addEventListener('click', () => {
    window.focus();
    location.href = messageHref(summary.ID);
  });
}

/** The "New: subject" notice: opens the newest message that arrived. */
export function showNewMail(summary) {
  const notice = document.getElementById('new-mail');
  if (!notice) return;
  const link = notice.querySelector('a');
  link.href = messageHref(summary.ID);
  link.textContent = `New: ${shorten(summary.Subject || '(no subject)')}`;
  notice.hidden = false;
  notice.querySelector('button').onclick = () => { notice.hidden = true; };
}

/** Says on the page (not in a browser alert) that an action failed, and
 *  why: offline, or the server's answer. */
export function reportFailure(what, error) {
  const notice = document.getElementById('action-error');
  if (!notice) return;
  const offline = document.getElementById('status')?.dataset.state === 'offline';
  notice.querySelector('.text').textContent = offline
    ? `${what} did not work: Letterbox cannot be reached (offline). Nothing was changed.`
    : `${what} did not work: ${error.message}`;
  notice.hidden = false;
  notice.querySelector('button').onclick = () => { notice.hidden = true; };
}
