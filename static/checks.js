// The Checks tab: HTML compatibility, the spam score, authentication and
// unsubscribe headers are asked for when the tab is shown; the link check only on a click, since it makes requests
// to the servers the links name. Everything from the API is put in with
// textContent: the message's sender controls it.

/** An element with a class and text (or children). */
function el(tag, className, ...content) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  for (const item of content) {
    element.append(typeof item === 'string' ? document.createTextNode(item) : item);
  }
  return element;
}

function percent(value) {
  return `${Math.round(value * 10) / 10}%`;
}

async function fetchJson(url) {
  const response = await fetch(url);
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: the status says enough.
  }
  if (!response.ok) throw new Error(body?.Error || `${response.status} ${response.statusText}`);
  const note = response.headers.get('X-Letterbox-Note');
  return { body, note };
}

/** Runs `work`, saying in the section's status line that it runs and
 *  whether it failed. */
async function load(section, what, work) {
  const state = section.querySelector('.check-state');
  const result = section.querySelector('.check-result');
  state.textContent = `${what}…`;
  state.classList.remove('error');
  section.setAttribute('aria-busy', 'true');
  try {
    result.replaceChildren(...(await work()));
    state.textContent = '';
  } catch (error) {
    result.replaceChildren();
    state.textContent = `${what} failed: ${error.message}`;
    state.classList.add('error');
  } finally {
    section.removeAttribute('aria-busy');
  }
}

/** Why a result is partial: its `Notes`, or else the answer's
 *  `X-Letterbox-Note` (the same notes, joined). */
function notes(list, note) {
  const all = list?.length ? list : note ? [note] : [];
  return all.length ? [el('ul', 'check-notes', ...all.map((n) => el('li', null, n)))] : [];
}

// ---- HTML compatibility ----

function totalBar(total) {
  const bar = el('div', 'score-bar');
  bar.setAttribute('aria-hidden', 'true');
  for (const [name, value] of [['supported', total.Supported], ['partial', total.Partial], ['unsupported', total.Unsupported]]) {
    const part = el('span', name);
    part.style.width = `${Math.max(0, Math.min(100, value))}%`;
    bar.append(part);
  }
  return bar;
}

/** A client family's name: what the names of its versions share (`Outlook`
 *  of `Outlook Windows (2016)`, `Outlook iOS (2019-02)`); else its key. */
function familyName(family, results) {
  const names = results.filter((r) => r.Family === family).map((r) => r.Name.replace(/ \(.*\)$/, '').split(' '));
  const shared = [];
  for (let i = 0; names.every((words) => i < words.length && words[i] === names[0][i]); i += 1) shared.push(names[0][i]);
  return shared.length ? shared.join(' ') : family;
}

/** The client versions lacking a feature, grouped by client family. */
function lacking(results) {
  const families = new Map();
  for (const r of results) {
    if (r.Support === 'yes') continue;
    if (!families.has(r.Family)) families.set(r.Family, []);
    families.get(r.Family).push(r);
  }
  const list = el('ul', 'clients');
  for (const [family, versions] of families) {
    const item = el('li', null, el('span', 'family', familyName(family, results)));
    for (const v of versions) {
      item.append(' ', el('span', `client ${v.Support === 'no' ? 'no' : 'partial'}`,
        `${v.Name}${v.Support === 'no' ? '' : ' (partial)'}`));
    }
    list.append(item);
  }
  return list;
}

function warningItem(w) {
  const score = w.Score;
  const summary = el('summary', null,
    el('span', 'title', w.Title),
    ' ',
    el('span', score.Unsupported > 0 ? 'badge-check unsupported' : 'badge-check partial',
      score.Unsupported > 0 ? `unsupported in ${percent(score.Unsupported)}` : `partial in ${percent(score.Partial)}`),
    ' ',
    el('span', 'hint', `${w.Category}, used ${score.Found}×`));
  const details = el('details', 'warning', summary);
  details.dataset.slug = w.Slug;
  if (w.Description) details.append(el('p', 'description', w.Description));
  if (score.Unsupported > 0 && score.Partial > 0) {
    details.append(el('p', 'hint', `Unsupported in ${percent(score.Unsupported)}, partial in ${percent(score.Partial)} of client versions.`));
  }
  details.append(lacking(w.Results || []));
  const places = w.Locations || [];
  if (places.length) {
    details.append(el('ul', 'locations', ...places.map((p) =>
      el('li', null, el('span', 'line', `line ${p.Line}`), ' ', el('code', null, p.Context)))));
    if (places.length < score.Found) details.append(el('p', 'hint', `and ${score.Found - places.length} more places`));
  }
  if (/^https:\/\//.test(w.URL || '')) {
    const more = el('a', null, 'on caniemail.com');
    more.href = w.URL;
    more.target = '_blank';
    more.rel = 'noreferrer';
    details.append(el('p', 'hint', 'More ', more));
  }
  return details;
}

async function htmlCheck(url) {
  const { body, note } = await fetchJson(url);
  const total = body.Total;
  const warnings = (body.Warnings || [])
    .filter((w) => w.Score.Unsupported > 0 || w.Score.Partial > 0)
    .sort((a, b) => b.Score.Unsupported - a.Score.Unsupported || b.Score.Partial - a.Score.Partial);
  const summary = el('p', 'score-total',
    el('span', 'supported', `${percent(total.Supported)} supported`), ', ',
    el('span', 'partial', `${percent(total.Partial)} partial`), ', ',
    el('span', 'unsupported', `${percent(total.Unsupported)} unsupported`),
    el('span', 'hint', ` (${total.Tests} features tested)`));
  const out = [summary, totalBar(total), ...notes(body.Notes, note)];
  if (warnings.length === 0) {
    out.push(el('p', 'none', 'Every feature found is supported by every client tested.'));
  } else {
    out.push(el('h3', null, `${warnings.length} features not supported everywhere`));
    out.push(el('div', 'warnings', ...warnings.map(warningItem)));
  }
  return out;
}

// ---- Links ----

function isError(link) {
  return link.StatusCode === 0 || link.StatusCode >= 400;
}

async function linkCheck(url, follow) {
  const { body, note } = await fetchJson(`${url}?follow=${follow}`);
  const links = body.Links || [];
  if (links.length === 0) return [el('p', 'none', 'This message has no links.'), ...notes(body.Notes, note)];
  const count = el('p', body.Errors > 0 ? 'link-errors error' : 'link-errors',
    body.Errors === 1 ? '1 error' : `${body.Errors} errors`, ` in ${links.length} links`);
  const table = el('table', 'links',
    el('thead', null, el('tr', null, el('th', null, 'URL'), el('th', null, 'Code'), el('th', null, 'Status'))),
    el('tbody', null, ...links.map((link) => el('tr', isError(link) ? 'error' : null,
      el('td', 'url', link.URL),
      el('td', 'code', link.StatusCode ? String(link.StatusCode) : '—'),
      el('td', null, link.Status)))));
  return [count, ...notes(body.Notes, note), el('div', 'table-scroll', table)];
}

// ---- Spam score ----

async function spamCheck(url) {
  const { body } = await fetchJson(url);
  if (body.Error) throw new Error(body.Error);
  const rules = [...(body.Rules || [])].sort((a, b) => b.Score - a.Score);
  const verdict = el('p', 'spam-verdict',
    el('span', 'spam-score', `Score ${body.Score}`), ' ',
    el('span', body.IsSpam ? 'verdict spam' : 'verdict ham', body.IsSpam ? 'spam' : 'not spam'));
  if (rules.length === 0) return [verdict, el('p', 'none', 'No rule fired.')];
  const table = el('table', 'rules',
    el('thead', null, el('tr', null, el('th', null, 'Score'), el('th', null, 'Rule'), el('th', null, 'Description'))),
    el('tbody', null, ...rules.map((rule) => el('tr', rule.Score > 0 ? 'positive' : null,
      el('td', 'score', String(rule.Score)),
      el('td', 'rule', el('code', null, rule.Name)),
      el('td', null, rule.Description)))));
  return [verdict, el('div', 'table-scroll', table)];
}

// ---- Authentication ----

function resultBadge(result) {
  return el('span', `auth-result ${result}`, result);
}

function authRow(method, result, reason, details) {
  return el('tr', null,
    el('th', null, method),
    el('td', null, resultBadge(result)),
    el('td', null, el('div', 'reason', reason), ...(details ? [el('div', 'details', details)] : [])));
}

async function authCheck(url) {
  const { body, note } = await fetchJson(url);
  const rows = [];
  if (!body.DKIM.length) rows.push(authRow('DKIM', 'none', 'The message has no DKIM signature.'));
  for (const d of body.DKIM) {
    const details = [`d=${d.Domain}`, `s=${d.Selector}`, d.Algorithm, d.BodyHash ? `body hash ${d.BodyHash}` : '',
      d.SignedHeaders.length ? `signs ${d.SignedHeaders.join(', ')}` : ''].filter(Boolean).join(' · ');
    rows.push(authRow('DKIM', d.Result, d.Reason, details));
  }
  rows.push(authRow('SPF', body.SPF.Result, body.SPF.Reason,
    `${body.SPF.Domain || '(no domain)'} from ${body.SPF.IP} (${body.SPF.IPSource})`));
  rows.push(authRow('DMARC', body.DMARC.Result, body.DMARC.Reason,
    [body.DMARC.Domain, body.DMARC.Policy ? `p=${body.DMARC.Policy}` : ''].filter(Boolean).join(' · ')));
  rows.push(authRow('ARC', body.ARC.Result, body.ARC.Reason));
  const table = el('table', 'auth',
    el('thead', null, el('tr', null, el('th', null, 'Method'), el('th', null, 'Result'), el('th', null, 'Why'))),
    el('tbody', null, ...rows));
  const header = el('details', 'auth-header',
    el('summary', null, 'Authentication-Results'),
    el('pre', null, body.AuthenticationResults));
  const lookups = el('p', 'hint', body.Lookups === 'dns'
    ? 'Keys and policies not configured were looked up in DNS.'
    : 'Only the configured keys and policies were used: nothing was looked up in DNS.');
  return [el('div', 'table-scroll', table), ...notes(body.Notes, note), lookups, header];
}

// ---- Unsubscribe ----

async function unsubscribeCheck(url) {
  const { body } = await fetchJson(url);
  const found = body.ListUnsubscribe || {};
  if (!found.Header && !found.HeaderPost) return [el('p', 'none', 'This message has no List-Unsubscribe header.')];
  const out = [];
  const oneClick = Boolean(found.HeaderPost) && !found.Errors;
  out.push(el('p', 'unsubscribe-verdict', 'One-click unsubscribe: ',
    resultBadge(oneClick ? 'pass' : found.HeaderPost ? 'fail' : 'none'),
    found.HeaderPost ? '' : ' (no List-Unsubscribe-Post header)'));
  if (found.Links?.length) out.push(el('ul', 'unsubscribe-links', ...found.Links.map((l) => el('li', null, el('code', null, l)))));
  if (found.Errors) out.push(el('ul', 'check-notes error', ...found.Errors.split('; ').map((e) => el('li', null, e))));
  return out;
}

/** Starts the tab's checks in `root` (the `#checks` element). */
export function setUpChecks(root) {
  const html = root.querySelector('#html-check');
  if (root.dataset.htmlCheck) load(html, 'Checking the HTML', () => htmlCheck(root.dataset.htmlCheck));
  const spam = root.querySelector('#spam-check');
  if (spam && root.dataset.spamCheck) load(spam, 'Asking SpamAssassin', () => spamCheck(root.dataset.spamCheck));
  const auth = root.querySelector('#auth-check');
  if (auth && root.dataset.authCheck) load(auth, 'Checking DKIM, SPF and DMARC', () => authCheck(root.dataset.authCheck));
  const unsubscribe = root.querySelector('#unsubscribe-check');
  if (unsubscribe && root.dataset.message) load(unsubscribe, 'Reading the unsubscribe headers', () => unsubscribeCheck(root.dataset.message));
  const links = root.querySelector('#link-check');
  const button = links.querySelector('#check-links');
  const follow = links.querySelector('#link-follow');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await load(links, 'Checking the links', () => linkCheck(root.dataset.linkCheck, follow.checked));
    } finally {
      button.disabled = false;
    }
  });
}
