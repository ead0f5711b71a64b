// The message page: marks the message read when opened, offers delete and
// mark-unread, notices when another tab deletes it, and adds tab keys.

import { at } from './root.js';
import * as api from './api.js';

export class MessagePage {
  constructor(article, unread) {
    this.article = article;
    this.unread = unread;
    this.id = article.dataset.id;
    this.gone = article.querySelector('#gone');
    this.tabs = [...article.querySelectorAll('nav.tabs a')];
    article.querySelector('.actions').addEventListener('click', (event) => {
      const button = event.target.closest('button[data-action]');
      if (button) this.act(button.dataset.action);
    });
    // Opening a message in the UI reads it (the API alone never does).
    if (article.dataset.read === 'false') {
      api.setRead([this.id], true).catch((error) => console.warn('marking read failed', error));
    }
  }

  onEvent({ Type, Data }) {
    if (Type === 'stats') this.unread.set(Data.Unread);
    if ((Type === 'delete' && Data.ID === this.id) || Type === 'truncate') this.showGone();
    if (Type === 'prune' || Type === 'resync') this.checkExists();
  }

  /** After a reconnection: was this message deleted meanwhile? */
  resync() {
    this.checkExists();
  }

  async checkExists() {
    try {
      if (!(await api.exists(this.id))) this.showGone();
    } catch {
      // Offline: the next connection checks again.
    }
  }

  showGone() {
    this.gone.hidden = false;
    for (const button of this.article.querySelectorAll('.actions button')) button.disabled = true;
  }

  async act(action) {
    try {
      if (action === 'delete') {
        await api.deleteMessages([this.id]);
        location.href = at('');
      } else if (action === 'unread') {
        await api.setRead([this.id], false);
        location.href = at('');
      }
    } catch (error) {
      alert(`That did not work: ${error.message}`);
    }
  }

  onKey(key) {
    if (key >= '1' && key <= '9') {
      const tab = this.tabs[Number(key) - 1];
      if (!tab) return false;
      location.href = tab.href;
      return true;
    }
    switch (key) {
      case 'Delete': case '#': this.act('delete'); return true;
      case 'u': this.act('unread'); return true;
      case 'Escape': case 'Backspace': location.href = at(''); return true;
      default: return false;
    }
  }
}
