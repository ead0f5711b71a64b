// Progressive enhancement of the server-rendered pages: live updates over
// the WebSocket, actions, keyboard shortcuts, relative times.

import * as api from './api.js';
import { refreshTimes } from './format.js';
import { Inbox } from './inbox.js';
import { installKeys } from './keys.js';
import { connect } from './live.js';
import { MessagePage } from './message.js';
import { installBell, notifyNew, reportFailure } from './notify.js';
import { Unread } from './unread.js';

document.documentElement.classList.add('js');

const body = document.body;
const unread = new Unread(Number(body.dataset.unread), body.dataset.title);
const inbox = document.getElementById('inbox');
const message = document.getElementById('message');
const page = inbox ? new Inbox(inbox, unread) : message ? new MessagePage(message, unread) : null;

const status = document.getElementById('status');
const statusLabel = status.querySelector('.label');
// The chaos banner follows the rules as they change; its button lifts
// them (the `chaos` event that follows hides it).
const chaosBanner = document.getElementById('chaos-banner');
function showChaos({ Active, Rules }) {
  chaosBanner.hidden = !Active;
  chaosBanner.querySelector('.rules').textContent = Rules ?? '';
}
document.getElementById('lift-chaos').addEventListener('click', () => {
  api.liftChaos().catch((error) => reportFailure('Turning the chaos rules off', error));
});

// Offline: the label counts down to the next attempt, which "retry now"
// starts at once.
const retryButton = document.getElementById('retry-now');
let countdown = null;
function showState(state, retryInMs) {
  clearInterval(countdown);
  status.dataset.state = state;
  retryButton.hidden = state !== 'offline';
  if (state !== 'offline') {
    statusLabel.textContent = state;
    return;
  }
  const retryAt = Date.now() + retryInMs;
  const tick = () => {
    const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    statusLabel.textContent = `offline, retrying in ${seconds} s`;
  };
  tick();
  countdown = setInterval(tick, 1000);
}

const retryNow = connect({
  inbox: body.dataset.inbox || '',
  onEvent: (event) => {
    if (event.Type === 'chaos') return showChaos(event.Data);
    if (event.Type === 'new') notifyNew(event.Data);
    return page?.onEvent(event);
  },
  // Also on the first connection: mail may have arrived since the page was
  // rendered. The unread count is asked for too: a change made before the
  // connection was up (this page marking its message read) sent its
  // `stats` event to no one.
  onConnected: () => {
    page?.resync();
    api.unreadCount().then((count) => unread.set(count)).catch(() => {});
  },
  onState: showState,
});
retryButton.addEventListener('click', () => retryNow());

// The theme button cycles system → light → dark (static/theme.js applies
// the choice on every page before it is drawn).
const THEMES = ['system', 'light', 'dark'];
const themeButton = document.getElementById('theme-toggle');
function showTheme() {
  const label = `Theme: ${document.documentElement.dataset.theme || 'system'}`;
  themeButton.title = label;
  themeButton.setAttribute('aria-label', label);
}
themeButton.addEventListener('click', () => {
  const current = document.documentElement.dataset.theme || 'system';
  const next = THEMES[(THEMES.indexOf(current) + 1) % THEMES.length];
  if (next === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = next;
  try {
    localStorage.setItem('letterbox:theme', next);
  } catch {
    // Storage disabled: for this page only.
  }
  showTheme();
});
showTheme();

installKeys(page);
installBell();
refreshTimes();
setInterval(refreshTimes, 30000);
