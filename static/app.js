// Progressive enhancement of the server-rendered pages: live updates over
// the WebSocket, actions, keyboard shortcuts, relative times.

import * as api from './api.js';
import { refreshTimes } from './format.js';
import { Inbox } from './inbox.js';
import { installKeys } from './keys.js';
import { connect } from './live.js';
import { MessagePage } from './message.js';
import { installBell, notifyNew } from './notify.js';
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
  api.liftChaos().catch((error) => alert(`That did not work: ${error.message}`));
});

connect({
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
  onState: (state, retryInMs) => {
    status.dataset.state = state;
    statusLabel.textContent = state === 'offline'
      ? `offline, retrying in ${Math.ceil(retryInMs / 1000)} s`
      : state;
  },
});

installKeys(page);
installBell();
refreshTimes();
setInterval(refreshTimes, 30000);
