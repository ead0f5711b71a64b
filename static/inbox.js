// The inbox page: live rows, selection, actions and keyboard moves on top of
// the server-rendered list.
//
// Events are not applied one by one: they are coalesced and applied once per
// animation frame, and only the newest page's worth of new rows is ever
// built, so a burst of thousands of messages costs one small DOM update.

import {
  at, leftMessage, listHref, rememberList, rememberRows,
} from './root.js';
import * as api from './api.js';
import { MessagePage } from './message.js';
import { reportFailure } from './notify.js';
import { formatSize, fullAddress, shortAddress, shorten, showTime } from './format.js';

/** More deletions than this in one frame reload the page's rows instead. */
const MAX_PENDING_DELETES = 500;
/** The layout chosen (`split` or `list`), remembered for every list page. */
const LAYOUT_KEY = 'letterbox:layout';
/** Where the split view applies (as in style.css). */
const WIDE = '(min-width: 1100px)';
/** Events the message shown beside the list also follows. */
const PANE_EVENTS = new Set(['update', 'delete', 'truncate', 'prune', 'resync', 'relay']);

export class Inbox {
  constructor(section, unread) {
    rememberList();
    this.section = section;
    this.unread = unread;
    this.list = section.querySelector('#messages');
    this.template = section.querySelector('#row-template');
    this.empty = section.querySelector('#empty');
    this.range = section.querySelector('#range');
    this.pages = [...section.querySelectorAll('nav.pages')];
    this.pageOf = section.querySelector('#pager .page-of');
    // The page size chosen is remembered (a cookie the server reads) and
    // applied at once.
    section.querySelector('#page-size').addEventListener('change', (event) => {
      const size = event.target.value;
      document.cookie = `letterbox-page-size=${size}; path=${at('')}; max-age=31536000; SameSite=Strict`;
      location.href = listHref(this.query, this.inbox, 0, Number(size));
    });
    this.newNotice = section.querySelector('#new-notice');
    this.selectAll = section.querySelector('#select-all');
    // "Select all N matching": the actions then apply to every message of
    // this list (the inbox or the search), not only to the rows shown.
    this.selectMatching = section.querySelector('#select-matching');
    this.allMatching = false;
    this.start = Number(section.dataset.start) || 0;
    this.pageSize = Number(section.dataset.pageSize) || 50;
    this.query = section.dataset.query || '';
    this.matched = Number(section.dataset.matched) || 0;
    // The search is not valid: nothing to act on, nothing to say is empty.
    this.invalid = section.dataset.invalid === 'true';
    // The inbox shown ('' for all); the socket sends only its new mail.
    this.inbox = section.dataset.inbox || '';
    this.switcher = section.querySelector('#inbox-switcher');
    this.pending = emptyPending();
    this.scheduled = false;
    this.resyncing = null;
    this.installControls();
    this.selectLeftRow();
    this.setUpSplit();
    // Back from a message restores this page from the cache without
    // running this again: select the row left then too.
    window.addEventListener('pageshow', (event) => {
      if (event.persisted) this.selectLeftRow();
    });
  }

  /** Selects the row of the message last shown in this tab, if listed. */
  selectLeftRow() {
    const id = leftMessage();
    const row = id && this.row(id);
    if (row) this.setCurrent(row, true);
    this.rememberRows();
  }

  /** What the message page needs to open this list's neighbours. */
  rememberRows() {
    rememberRows({
      ids: [...this.list.children].map((row) => row.dataset.id),
      start: this.start,
      pageSize: this.pageSize,
      matched: this.matched,
      query: this.query,
      inbox: this.inbox,
    });
  }

  /** The view that shows every new message at its top. */
  get isLive() {
    return this.start === 0 && this.query === '';
  }

  // ---- events ----

  onEvent({ Type, Data }) {
    if (PANE_EVENTS.has(Type)) this.reader?.onEvent({ Type, Data });
    const p = this.pending;
    switch (Type) {
      case 'new':
        p.newCount += 1;
        p.added.push(Data);
        if (p.added.length > this.pageSize) p.added.shift();
        break;
      case 'delete':
        p.deleted.add(Data.ID);
        p.read.delete(Data.ID);
        p.tags.delete(Data.ID);
        if (p.deleted.size > MAX_PENDING_DELETES) p.resync = true;
        break;
      case 'update':
        if (typeof Data.Read === 'boolean') p.read.set(Data.ID, Data.Read);
        if (Array.isArray(Data.Tags)) p.tags.set(Data.ID, Data.Tags);
        break;
      case 'truncate':
        // Everything before this is gone; what follows still counts.
        this.pending = { ...emptyPending(), cleared: true };
        break;
      case 'prune': // many changed at once
      case 'resync': // this page missed events
        p.resync = true;
        break;
      case 'stats': {
        this.unread.set(Data.Unread);
        const inboxes = Array.isArray(Data.Inboxes) ? Data.Inboxes : [];
        this.refreshSwitcher(Data.Unread, inboxes);
        const mine = this.inbox ? inboxes.find((i) => i.Name === this.inbox) : Data;
        if (this.isLive && mine) this.pending.total = mine.Total;
        break;
      }
      default:
        return;
    }
    this.schedule();
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      this.flush();
    };
    // Hidden tabs get no animation frames; a timer still keeps them current.
    if (document.hidden) setTimeout(run, 250);
    else requestAnimationFrame(run);
  }

  flush() {
    if (this.resyncing) return; // applied once the reload is in
    const p = this.pending;
    this.pending = emptyPending();
    if (p.resync || (p.newCount > 0 && this.start === 0 && this.query !== '')) {
      // A search cannot tell locally whether new mail matches.
      this.resync();
      return;
    }
    if (p.cleared) {
      this.list.replaceChildren();
      this.matched = 0;
    }
    if (p.newCount > 0) {
      if (this.isLive) this.prepend(p.added, p.newCount);
      else this.newNotice.hidden = false;
    }
    let removed = 0;
    for (const id of p.deleted) {
      const row = this.row(id);
      if (row) {
        row.remove();
        removed += 1;
      }
    }
    if (removed > 0) this.matched = Math.max(0, this.matched - removed);
    for (const [id, read] of p.read) this.row(id)?.classList.toggle('unread', !read);
    for (const [id, tags] of p.tags) {
      const row = this.row(id);
      if (row) fillTags(row, tags);
    }
    if (p.total !== undefined) this.matched = p.total;
    this.refreshChrome();
    // Rows deleted from a full page leave a gap that the next page fills.
    if (removed > 0 && this.list.children.length < Math.min(this.pageSize, this.matched - this.start)) {
      this.resync();
    }
  }

  /** New summaries, oldest first; `count` of them arrived in all. */
  prepend(summaries, count) {
    const fragment = document.createDocumentFragment();
    for (let i = summaries.length - 1; i >= 0; i -= 1) {
      if (this.row(summaries[i].ID)) continue;
      const row = this.buildRow(summaries[i]);
      row.classList.add('arrived'); // a short highlight (style.css)
      fragment.append(row);
    }
    // Rows already shown came with a reload that counted them.
    this.matched += count - summaries.length + fragment.children.length;
    this.list.prepend(fragment);
    while (this.list.children.length > this.pageSize) this.list.lastElementChild.remove();
  }

  /**
   * Reloads this page's rows from the API, keeping the row elements (and
   * their selection) of messages still on it. Events that arrive meanwhile
   * are applied afterwards, so nothing is lost between the two.
   */
  async resync() {
    this.reader?.resync();
    if (this.resyncing) {
      this.pending.resync = true;
      return this.resyncing;
    }
    this.pending.resync = false;
    this.resyncing = (async () => {
      try {
        const page = await api.listPage(this.query, this.start, this.pageSize, this.inbox);
        const rows = page.messages.map((summary) => {
          const row = this.row(summary.ID);
          if (!row) return this.buildRow(summary);
          row.classList.toggle('unread', !summary.Read);
          return row;
        });
        this.list.replaceChildren(...rows);
        this.matched = page.messages_count;
        // Confined to an inbox, the page counts that inbox only.
        if (!this.inbox) this.unread.set(page.unread);
        this.newNotice.hidden = true;
      } catch (error) {
        console.warn('reloading the list failed', error);
      } finally {
        this.resyncing = null;
      }
      this.refreshChrome();
      this.schedule();
    })();
    return this.resyncing;
  }

  // ---- rendering ----

  row(id) {
    return this.list.querySelector(`li[data-id="${CSS.escape(id)}"]`);
  }

  /** A row built from the page's own template, filled by text, never HTML. */
  buildRow(s) {
    const row = this.template.content.firstElementChild.cloneNode(true);
    row.dataset.id = s.ID;
    row.classList.toggle('unread', !s.Read);
    row.querySelector('a.open').href = at(`message/${encodeURIComponent(s.ID)}`);
    const from = row.querySelector('.from');
    from.textContent = shorten(shortAddress(s.From));
    from.title = shorten(fullAddress(s.From));
    const to = row.querySelector('.to');
    const recipients = s.To || [];
    const first = shorten(shortAddress(recipients[0]));
    to.textContent = recipients.length === 0 ? ''
      : recipients.length === 1 ? first : `${first} (+${recipients.length - 1})`;
    to.title = shorten(recipients.slice(0, 50).map(fullAddress).join(', '));
    row.querySelector('.inbox-name').textContent = s.Inbox || '';
    row.querySelector('.subject').textContent = shorten(s.Subject || '');
    row.querySelector('.snippet').textContent = shorten(s.Snippet || '');
    fillTags(row, s.Tags || []);
    row.querySelector('.attach').hidden = !(s.Attachments > 0);
    showTime(row.querySelector('time'), s.Created);
    row.querySelector('.size').textContent = formatSize(s.Size || 0);
    return row;
  }

  /**
   * The inbox switcher's unread counts, with a link for each inbox that
   * appeared since the page was rendered; it shows once there is more than
   * one inbox. Names are set as text only.
   */
  refreshSwitcher(allUnread, inboxes) {
    if (!this.switcher || (this.switcher.hidden && inboxes.length < 2)) return;
    const links = new Map([...this.switcher.querySelectorAll('a[data-inbox]')]
      .map((a) => [a.dataset.inbox, a]));
    const entries = [{ Name: '', Unread: allUnread }, ...inboxes];
    for (const { Name, Unread } of entries) {
      let link = links.get(Name);
      if (!link) {
        link = document.createElement('a');
        link.dataset.inbox = Name;
        link.href = at(Name ? `?${new URLSearchParams({ inbox: Name })}` : '');
        if (Name === this.inbox) link.setAttribute('aria-current', 'page');
        const count = document.createElement('span');
        count.className = 'count';
        count.title = 'Unread messages';
        link.append(`${Name || 'All'} `, count);
        this.switcher.append(link);
      }
      link.querySelector('.count').textContent = String(Unread);
    }
    this.switcher.hidden = false;
    // Rows of the list of all inboxes now say which is theirs.
    if (!this.inbox) this.section.classList.add('mixed');
  }

  /** Range text, page links, empty notice and toolbar state. */
  refreshChrome() {
    this.rememberRows();
    const shown = this.list.children.length;
    this.range.textContent = shown === 0 ? `0 of ${this.matched}`
      : `${this.start + 1}–${this.start + shown} of ${this.matched}`;
    this.empty.hidden = shown > 0 || this.invalid;
    for (const pages of this.pages) {
      pages.replaceChildren(
        ...pageLinks(this.query, this.inbox, this.start, this.matched, this.pageSize),
      );
    }
    const pageCount = Math.max(1, Math.ceil(this.matched / this.pageSize));
    this.pageOf.textContent = `Page ${Math.floor(this.start / this.pageSize) + 1} of ${pageCount}`;
    this.refreshSelection();
  }

  // ---- selection and actions ----

  installControls() {
    this.list.addEventListener('change', (event) => {
      if (event.target.matches('input.select')) this.refreshSelection();
    });
    this.selectAll.addEventListener('change', () => {
      for (const box of this.list.querySelectorAll('input.select')) box.checked = this.selectAll.checked;
      this.refreshSelection();
    });
    this.selectMatching.addEventListener('click', (event) => {
      if (event.target.closest('button')) this.act('select-matching');
    });
    this.section.querySelector('.actions').addEventListener('click', (event) => {
      const button = event.target.closest('button[data-action]');
      if (button) this.act(button.dataset.action);
    });
    // A row's tags are filters: clicking one lists the mail with that tag.
    this.list.addEventListener('click', (event) => {
      const tag = event.target.closest('.tag');
      if (!tag) return;
      event.preventDefault();
      const value = tag.textContent;
      const term = /\s/.test(value) ? `tag:"${value.replaceAll('"', '')}"` : `tag:${value}`;
      location.href = listHref(term, this.inbox, 0, this.pageSize);
    });
    this.list.addEventListener('focusin', (event) => {
      const row = event.target.closest('li.row');
      if (row) this.setCurrent(row, false);
    });
  }

  selectedIds() {
    return [...this.list.querySelectorAll('input.select:checked')]
      .map((box) => box.closest('li.row').dataset.id);
  }

  refreshSelection() {
    const boxes = this.list.querySelectorAll('input.select');
    const selected = this.list.querySelectorAll('input.select:checked').length;
    const wholePage = selected > 0 && selected === boxes.length;
    this.selectAll.checked = wholePage;
    this.selectAll.indeterminate = selected > 0 && selected < boxes.length;
    if (!wholePage) this.allMatching = false;
    for (const button of this.section.querySelectorAll('.actions button[data-action]')) {
      const action = button.dataset.action;
      if (action === 'delete-all' || action === 'read-all') button.disabled = this.matched === 0 || this.invalid;
      else button.disabled = selected === 0;
    }
    // Offered once the whole page is selected and there is more than it.
    const more = wholePage && this.matched > boxes.length;
    this.selectMatching.hidden = !more;
    if (more) {
      const [text, button] = [this.selectMatching.querySelector('.text'),
        this.selectMatching.querySelector('button')];
      if (this.allMatching) {
        text.textContent = `All ${this.matched} ${this.query ? 'matching messages' : 'messages'} are selected.`;
        button.textContent = 'Select only this page';
      } else {
        text.textContent = `The ${boxes.length} messages on this page are selected.`;
        button.textContent = `Select all ${this.matched}${this.query ? ' matching' : ''}`;
      }
    }
  }

  clearSelection() {
    for (const box of this.list.querySelectorAll('input.select:checked')) box.checked = false;
    this.allMatching = false;
    this.refreshSelection();
  }

  /** The selected messages, or the current one when none is selected. */
  targets() {
    const selected = this.selectedIds();
    if (selected.length > 0) return selected;
    const current = this.current();
    return current ? [current.dataset.id] : [];
  }

  async act(action) {
    try {
      if (action === 'select-matching') {
        this.allMatching = !this.allMatching;
        this.refreshSelection();
        return;
      }
      if (action === 'read-all' || (this.allMatching && (action === 'read' || action === 'unread'))) {
        await api.setReadAll(this.query, this.inbox, action !== 'unread');
        this.clearSelection();
        await this.resync();
        return;
      }
      if (action === 'delete-all' || (this.allMatching && action === 'delete')) {
        let what = this.query ? 'every message matching this search' : 'every message';
        if (this.inbox) what += ` in inbox ${this.inbox}`;
        if (!confirm(`Delete ${what}? This cannot be undone.`)) return;
        await api.deleteAll(this.query, this.inbox);
        this.clearSelection();
        await this.resync();
        return;
      }
      const ids = this.targets();
      if (ids.length === 0) return;
      if (action === 'delete') {
        const next = this.neighbour(ids);
        await api.deleteMessages(ids);
        for (const id of ids) this.pending.deleted.add(id);
        this.schedule();
        if (next) this.setCurrent(next, true);
      } else if (action === 'read' || action === 'unread') {
        await api.setRead(ids, action === 'read');
        for (const id of ids) this.pending.read.set(id, action === 'read');
        this.schedule();
      }
    } catch (error) {
      reportFailure(ACTION_NAMES[action] ?? 'That', error);
    }
  }

  // ---- keyboard ----

  current() {
    return this.list.querySelector('li.row.current');
  }

  setCurrent(row, focus) {
    for (const other of this.list.querySelectorAll('li.row.current')) {
      if (other !== row) other.classList.remove('current');
    }
    row.classList.add('current');
    if (focus) {
      row.querySelector('a.open').focus();
      row.scrollIntoView({ block: 'nearest' });
    }
    if (this.splitShown) this.showBeside(row.dataset.id);
  }

  /** The row to move to once `ids` are gone. */
  neighbour(ids) {
    const gone = new Set(ids);
    const current = this.current();
    if (!current) return null;
    for (let row = current.nextElementSibling; row; row = row.nextElementSibling) {
      if (!gone.has(row.dataset.id)) return row;
    }
    for (let row = current.previousElementSibling; row; row = row.previousElementSibling) {
      if (!gone.has(row.dataset.id)) return row;
    }
    return null;
  }

  move(step) {
    const rows = [...this.list.children];
    if (rows.length === 0) return;
    const at = rows.indexOf(this.current());
    const next = at === -1 ? 0 : Math.min(rows.length - 1, Math.max(0, at + step));
    this.setCurrent(rows[next], true);
  }

  /** Handles a shortcut; true when it was one of ours. */
  onKey(key) {
    switch (key) {
      case 'j': case 'ArrowDown': this.move(1); return true;
      case 'k': case 'ArrowUp': this.move(-1); return true;
      case 'o': case 'Enter': {
        const current = this.current();
        if (!current) return false;
        location.href = current.querySelector('a.open').href;
        return true;
      }
      case 'x': {
        const box = this.current()?.querySelector('input.select');
        if (!box) return false;
        box.checked = !box.checked;
        this.refreshSelection();
        return true;
      }
      case 'Delete': case '#': this.act('delete'); return true;
      case 'r': this.act('read'); return true;
      case 'u': this.act('unread'); return true;
      default:
        // The message beside the list: its tabs.
        if (this.reader && key >= '1' && key <= '9') return this.reader.onKey(key);
        return false;
    }
  }

  // ---- split view: the list and the selected message side by side ----

  /**
   * On wide screens the user may show the selected message beside the
   * list: j/k (or a click) select a row and show its message there, with
   * its tabs, tags and actions, while the list stays in place. The choice
   * is remembered; narrower windows always show the list alone.
   */
  setUpSplit() {
    this.pane = document.getElementById('reading-pane');
    this.layoutButton = this.section.querySelector('#layout-toggle');
    this.wide = window.matchMedia(WIDE);
    this.reader = null;
    this.shownId = null;
    let saved = null;
    try {
      saved = localStorage.getItem(LAYOUT_KEY);
    } catch {
      // Storage disabled: the list alone.
    }
    this.layoutButton.addEventListener('click', () => {
      this.applyLayout(!this.split);
      try {
        localStorage.setItem(LAYOUT_KEY, this.split ? 'split' : 'list');
      } catch {
        // As above: for this page only.
      }
    });
    this.wide.addEventListener('change', () => this.applyLayout(this.split));
    // A plain click on a row shows its message beside the list; with a
    // modifier (new tab, new window) the link does what links do.
    this.list.addEventListener('click', (event) => {
      const link = event.target.closest('a.open');
      if (!this.splitShown || !link || event.target.closest('.tag')) return;
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      this.setCurrent(link.closest('li.row'), true);
    });
    this.applyLayout(saved === 'split');
  }

  get splitShown() {
    return Boolean(this.split && this.wide?.matches);
  }

  applyLayout(split) {
    this.split = split;
    this.layoutButton.setAttribute('aria-pressed', String(split));
    const shown = this.splitShown;
    this.section.parentElement.classList.toggle('split', shown);
    this.pane.hidden = !shown;
    if (shown) {
      const row = this.current() ?? this.list.firstElementChild;
      if (row) this.setCurrent(row, false);
    } else {
      this.closeReader();
    }
  }

  closeReader() {
    clearTimeout(this.paneTimer);
    this.reader?.dispose();
    this.reader = null;
    this.shownId = null;
    this.paneLoading = null;
    this.pane.replaceChildren();
  }

  /** Shows message `id` beside the list; rows passed over quickly (j held
   *  down) are skipped rather than each loaded. */
  showBeside(id) {
    if (this.shownId === id) return;
    this.shownId = id;
    clearTimeout(this.paneTimer);
    this.paneTimer = setTimeout(() => this.loadBeside(at(`message/${encodeURIComponent(id)}`)), 60);
  }

  /** Loads a message page (any of its tabs) and shows its message in the
   *  pane. The page is our own server-rendered HTML, as a full page would
   *  show it; only its `<article>` is kept. */
  async loadBeside(url) {
    this.paneLoading = url;
    let article = null;
    let failure = '';
    try {
      const response = await fetch(url, { headers: { Accept: 'text/html' } });
      const page = new DOMParser().parseFromString(await response.text(), 'text/html');
      article = page.getElementById('message');
      if (!article) failure = page.querySelector('main')?.textContent.trim() || `HTTP ${response.status}`;
    } catch (error) {
      failure = error.message;
    }
    if (this.paneLoading !== url || !this.splitShown) return; // another was asked for since
    this.reader?.dispose();
    this.reader = null;
    if (!article) {
      const notice = document.createElement('p');
      notice.className = 'notice error';
      notice.textContent = `This message cannot be shown: ${failure}`;
      this.pane.replaceChildren(notice);
      return;
    }
    const shown = document.adoptNode(article);
    this.pane.replaceChildren(shown);
    this.pane.scrollTop = 0;
    this.reader = new MessagePage(shown, this.unread, {
      load: (href) => this.loadBeside(href),
      remove: (id) => this.removeShown(id),
    });
  }

  /** Deletes the message shown beside the list and shows the next one. */
  async removeShown(id) {
    const row = this.row(id);
    const next = row && row === this.current() ? this.neighbour([id]) : null;
    await api.deleteMessages([id]);
    this.pending.deleted.add(id);
    this.schedule();
    if (next) this.setCurrent(next, true);
    else this.closeReader();
  }
}

function emptyPending() {
  return {
    added: [], newCount: 0, deleted: new Set(), read: new Map(), tags: new Map(),
    cleared: false, resync: false, total: undefined,
  };
}

function fillTags(row, tags) {
  row.querySelector('.tags').replaceChildren(...tags.map((tag) => {
    const span = document.createElement('span');
    span.className = 'tag';
    span.textContent = tag;
    return span;
  }));
}

/** The same links as the server renders (src/web/ui/inbox.rs `page_links`). */
function pageLinks(query, inbox, start, matched, pageSize) {
  const href = (from) => listHref(query, inbox, from, pageSize);
  const link = (label, from) => {
    const a = document.createElement('a');
    a.href = href(from);
    a.textContent = label;
    return a;
  };
  const links = [];
  if (start > 0) links.push(link('Newest', 0), link('Newer', Math.max(0, start - pageSize)));
  if (start + pageSize < matched) {
    links.push(link('Older', start + pageSize), link('Oldest', Math.floor((matched - 1) / pageSize) * pageSize));
  }
  return links;
}

/** What each action is called when it fails. */
const ACTION_NAMES = {
  read: 'Marking read', unread: 'Marking unread', delete: 'Deleting', 'delete-all': 'Deleting all',
  'read-all': 'Marking all read', next: 'Opening the next message', previous: 'Opening the previous message',
};
