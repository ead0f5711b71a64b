// The message page: marks the message read when opened, offers delete,
// mark-unread and release, notices when another tab deletes it, and adds
// tab keys.

import {
  at, listHref, listToReturnTo, rememberLeft, rememberRows, rememberedRows,
} from './root.js';
import * as api from './api.js';
import { setUpChecks } from './checks.js';
import { reportFailure, showNewMail } from './notify.js';

export class MessagePage {
  /**
   * `beside` is set when the message is shown beside the list (the split
   * view, static/inbox.js): `load(href)` shows another of its tabs there,
   * `remove(id)` deletes it and moves on; the list handles the keys.
   */
  constructor(article, unread, beside = null) {
    this.article = article;
    this.unread = unread;
    this.beside = beside;
    this.id = article.dataset.id;
    // Listeners on the window, dropped when the message beside the list
    // gives way to another.
    this.lifetime = new AbortController();
    // Back to the list this tab came from: its inbox, search and page.
    this.back = listToReturnTo();
    const backLink = article.querySelector('a.back');
    if (backLink) backLink.href = this.back;
    // Going back to the list selects this message's row.
    rememberLeft(this.id);
    this.rows = rememberedRows();
    this.setUpNeighbours();
    // Beside the list, the tabs and views of this message open there too.
    if (beside) {
      article.addEventListener('click', (event) => {
        const link = event.target.closest('a[href]');
        if (!link || link.target || link.hasAttribute('download')) return;
        if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
        if (!new URL(link.href).pathname.startsWith(at(`message/${encodeURIComponent(this.id)}`))) return;
        event.preventDefault();
        beside.load(link.href);
      });
    }
    this.gone = article.querySelector('#gone');
    this.tabs = [...article.querySelectorAll('nav.tabs a')];
    this.setUpTags();
    this.setUpFrame();
    const checks = article.querySelector('#checks');
    if (checks) setUpChecks(checks);
    article.querySelector('#copy-source')?.addEventListener('click', (event) => this.copySource(event.target));
    // An attached message's parts fold under it in the MIME tab.
    article.querySelector('table.parts')?.addEventListener('click', (event) => {
      const button = event.target.closest('button.branch');
      if (!button) return;
      const open = button.getAttribute('aria-expanded') !== 'true';
      button.setAttribute('aria-expanded', String(open));
      const rows = article.querySelectorAll(`table.parts tr[data-within="${CSS.escape(button.dataset.branch)}"]`);
      for (const row of rows) row.hidden = !open;
    });
    article.querySelector('.actions').addEventListener('click', (event) => {
      const button = event.target.closest('button[data-action]');
      if (button) this.act(button.dataset.action);
    });
    this.relay = article.querySelector('#relay');
    this.releaseDialog = article.querySelector('#release-dialog');
    if (this.releaseDialog) this.setUpRelease();
    if (this.relay.dataset.pending === 'true') this.refreshRelay();
    // Opening a message in the UI reads it (the API alone never does), but
    // only when the server saw the user or our own pages open it: a GET
    // changes nothing, and another site opening it must not mark it.
    this.markRead = article.dataset.markRead === 'true' && article.dataset.read === 'false';
    if (this.markRead) {
      api.setRead([this.id], true)
        .then(() => { article.dataset.read = 'true'; })
        .catch((error) => console.warn('marking read failed', error));
    }
  }

  // ---- the HTML body's frame ----

  /**
   * The frame is as tall as the body it shows: no box inside the page, no
   * hole under a short mail. The body runs no script (its sandbox has no
   * `allow-scripts`, its policy no script source), so it cannot say how
   * tall it is; it keeps our origin instead, and this page measures it.
   * Measured when it has loaded, again when its content changes size
   * (late images, fonts) and when the window's width changes. Without
   * scripts the frame keeps a fixed height that the user can drag.
   */
  setUpFrame() {
    const iframe = this.article.querySelector('#html-body');
    if (!iframe) return;
    const box = iframe.closest('.frame');
    let observed = null;
    const measure = () => {
      const doc = iframe.contentDocument;
      const viewport = doc?.scrollingElement;
      if (!viewport || doc.URL === 'about:blank') return;
      // The box keeps its height while the frame inside shrinks to be
      // measured, so that the page around it neither jumps nor scrolls.
      box.style.height = `${box.getBoundingClientRect().height}px`;
      box.classList.add('sized');
      iframe.style.height = '1px';
      const content = viewport.scrollHeight;
      iframe.style.height = '';
      const border = iframe.offsetHeight - iframe.clientHeight;
      box.style.height = `${content + border}px`;
      // A horizontal scrollbar (mail wider than the frame) takes room too.
      const hidden = viewport.scrollHeight - viewport.clientHeight;
      if (hidden > 0) box.style.height = `${content + border + hidden}px`;
      if (observed !== doc) {
        observed = doc;
        const resized = new ResizeObserver(() => requestAnimationFrame(measure));
        resized.observe(doc.documentElement);
        if (doc.body) resized.observe(doc.body);
      }
    };
    iframe.addEventListener('load', measure);
    if (iframe.contentDocument?.readyState === 'complete') measure();
    let width = window.innerWidth;
    window.addEventListener('resize', () => {
      if (window.innerWidth === width) return;
      width = window.innerWidth;
      measure();
    }, { signal: this.lifetime.signal });
  }

  /** Stops what outlives the article: window listeners and timers. */
  dispose() {
    this.lifetime.abort();
    clearTimeout(this.relayTimer);
  }

  // ---- tags ----

  currentTags() {
    return [...this.article.querySelectorAll('#tags .tag-item')].map((item) => item.dataset.tag);
  }

  setUpTags() {
    const tags = this.article.querySelector('#tags');
    tags.addEventListener('click', (event) => {
      const item = event.target.closest('button.untag')?.closest('.tag-item');
      if (item) this.saveTags(this.currentTags().filter((t) => t !== item.dataset.tag));
    });
    const form = tags.querySelector('#add-tag');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const tag = form.elements.tag.value.trim();
      form.elements.tag.value = '';
      if (tag && !this.currentTags().includes(tag)) this.saveTags([...this.currentTags(), tag]);
    });
  }

  async saveTags(tags) {
    try {
      await api.setTags([this.id], tags);
      this.showTags(tags);
    } catch (error) {
      reportFailure('Changing the tags', error);
    }
  }

  /** Redraws the tag chips (text only), keeping the add form last. */
  showTags(tags) {
    const box = this.article.querySelector('#tags');
    const form = box.querySelector('#add-tag');
    const items = tags.map((tag) => {
      const item = document.createElement('span');
      item.className = 'tag-item';
      item.dataset.tag = tag;
      const link = document.createElement('a');
      link.className = 'tag';
      link.textContent = tag;
      link.title = `Every message tagged ${tag}`;
      const term = /\s/.test(tag) ? `tag:"${tag.replaceAll('"', '')}"` : `tag:${tag}`;
      link.href = listHref(term, document.body.dataset.inbox || '', 0);
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'untag';
      remove.title = 'Remove';
      remove.setAttribute('aria-label', `Remove tag ${tag}`);
      remove.textContent = '×';
      item.append(link, remove);
      return item;
    });
    box.replaceChildren(...items, form);
  }

  /** Copies the HTML source shown (the line numbers are not text). */
  async copySource(button) {
    try {
      await navigator.clipboard.writeText(this.article.querySelector('#source').textContent);
      button.textContent = 'Copied';
    } catch (error) {
      button.textContent = `Copy failed: ${error.message}`;
    }
  }

  // ---- next and previous, in the list this tab came from ----

  setUpNeighbours() {
    this.stepButtons = {
      [-1]: this.article.querySelector('[data-action=previous]'),
      [1]: this.article.querySelector('[data-action=next]'),
    };
    for (const step of [-1, 1]) this.stepButtons[step].disabled = !this.hasNeighbour(step);
  }

  /** Whether the list has a message `step` (-1 or 1) away from this one. */
  hasNeighbour(step) {
    const rows = this.rows;
    const at = rows ? rows.ids.indexOf(this.id) : -1;
    if (at === -1) return false;
    if (rows.ids[at + step] !== undefined) return true;
    return step < 0 ? rows.start > 0 : rows.start + rows.ids.length < rows.matched;
  }

  /** Opens the message `step` away, fetching the next or previous page of
   *  the list when this one is at its edge; in the same tab as this one. */
  async go(step) {
    if (!this.hasNeighbour(step)) return;
    let rows = this.rows;
    let next = rows.ids[rows.ids.indexOf(this.id) + step];
    if (next === undefined) {
      const start = Math.max(0, rows.start + step * rows.pageSize);
      const page = await api.listPage(rows.query, start, rows.pageSize, rows.inbox);
      const ids = page.messages.map((m) => m.ID);
      if (ids.length === 0) return;
      rows = { ...rows, ids, start, matched: page.messages_count };
      next = step > 0 ? ids[0] : ids[ids.length - 1];
      rememberRows(rows);
    }
    location.href = at(`message/${encodeURIComponent(next)}${this.tabPath()}`);
  }

  /** `/headers` when this page shows that tab; '' for the first one. */
  tabPath() {
    const current = this.tabs.find((tab) => tab.getAttribute('aria-current') === 'page');
    const explicit = !location.pathname.endsWith(`/${encodeURIComponent(this.id)}`);
    if (!current || !explicit) return '';
    return `/${new URL(current.href).pathname.split('/').pop()}`;
  }

  onEvent({ Type, Data }) {
    if (Type === 'stats') this.unread.set(Data.Unread);
    if (Type === 'new') showNewMail(Data);
    if (Type === 'update' && Data.ID === this.id && Array.isArray(Data.Tags)) this.showTags(Data.Tags);
    if ((Type === 'delete' && Data.ID === this.id) || Type === 'truncate') this.showGone();
    if (Type === 'prune' || Type === 'resync') this.checkExists();
    if (Type === 'relay' && Data.ID === this.id) this.refreshRelay();
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
      if (action === 'delete' && this.beside) {
        await this.beside.remove(this.id);
      } else if (action === 'delete') {
        await api.deleteMessages([this.id]);
        location.href = this.back;
      } else if (action === 'next' || action === 'previous') {
        await this.go(action === 'next' ? 1 : -1);
      } else if (action === 'release') {
        this.releaseDialog?.showModal();
      } else if (action === 'unread') {
        await api.setRead([this.id], false);
        if (this.beside) this.showRead(false);
        else location.href = this.back;
      } else if (action === 'read') {
        await api.setRead([this.id], true);
        this.showRead(true);
      }
    } catch (error) {
      reportFailure(ACTION_NAMES[action] ?? 'That', error);
    }
  }

  showRead(read) {
    this.article.dataset.read = String(read);
    this.article.querySelector('[data-action=read]').hidden = read;
    this.article.querySelector('[data-action=unread]').hidden = !read;
  }

  setUpRelease() {
    const form = this.releaseDialog.querySelector('form');
    const error = form.querySelector('#release-error');
    form.querySelector('[data-close]').addEventListener('click', () => this.releaseDialog.close());
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const to = form.elements.to.value.split(',').map((s) => s.trim()).filter(Boolean);
      error.hidden = true;
      try {
        await api.release(this.id, to);
        this.releaseDialog.close();
        this.refreshRelay();
      } catch (failure) {
        error.textContent = failure.message;
        error.hidden = false;
      }
    });
  }

  /**
   * Redraws the releases from the API. `relay` events trigger it; while a
   * release is pending it also looks again now and then, in case the live
   * connection is down.
   */
  async refreshRelay() {
    clearTimeout(this.relayTimer);
    let status;
    try {
      status = await api.relayStatus(this.id);
    } catch {
      return; // Deleted, or offline: nothing to show.
    }
    const list = this.relay.querySelector('ol');
    list.replaceChildren(...status.Releases.map(releaseItem));
    this.relay.hidden = status.Releases.length === 0;
    if (status.Releases.some((r) => r.State === 'queued' || r.State === 'sending')) {
      this.relayTimer = setTimeout(() => this.refreshRelay(), 5000);
    }
  }

  onKey(key) {
    if (this.releaseDialog?.open) return false; // Esc closes it natively.
    if (key >= '1' && key <= '9') {
      const tab = this.tabs[Number(key) - 1];
      if (!tab) return false;
      if (this.beside) this.beside.load(tab.href);
      else location.href = tab.href;
      return true;
    }
    switch (key) {
      case 'Delete': case '#': this.act('delete'); return true;
      case 'j': case 'ArrowRight': this.act('next'); return true;
      case 'k': case 'ArrowLeft': this.act('previous'); return true;
      case 'r': this.act('read'); return true;
      case 'u': this.act('unread'); return true;
      case 'Escape': case 'Backspace': location.href = this.back; return true;
      default: return false;
    }
  }
}

/** One release as the page shows it, built from text only. */
function releaseItem(release) {
  const item = document.createElement('li');
  const state = document.createElement('span');
  state.className = `state ${release.State}`;
  state.textContent = release.State;
  item.append(state, ` to ${release.To.join(', ')}, released ${new Date(release.Created).toLocaleString()}`);
  const attempts = document.createElement('ul');
  attempts.className = 'attempts';
  const outcomes = { sent: 'sent', temporary: 'temporary failure', permanent: 'permanent failure' };
  for (const attempt of release.Attempts) {
    const line = document.createElement('li');
    const at = document.createElement('time');
    at.textContent = attempt.At;
    const reply = document.createElement('code');
    reply.textContent = attempt.Reply;
    line.append(at, ` ${outcomes[attempt.Outcome] ?? attempt.Outcome}: `, reply);
    attempts.append(line);
  }
  item.append(attempts);
  return item;
}

/** What each action is called when it fails. */
const ACTION_NAMES = {
  read: 'Marking read', unread: 'Marking unread', delete: 'Deleting', 'delete-all': 'Deleting all',
  'read-all': 'Marking all read', next: 'Opening the next message', previous: 'Opening the previous message',
};
