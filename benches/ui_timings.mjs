#!/usr/bin/env node
// ui_timings.mjs BASE_URL [ROUNDS]
//
// Times what a person waits for in the web UI, in Debian's Chromium driven by
// playwright-core (never downloads a browser; a fresh profile each run; benches/ui_timings.sh sets it
// up and fills the store). Each step is timed from the action (navigation,
// click or key) until what the person looks for is on screen, ROUNDS times
// (default 10); the median and the slowest are printed as a Markdown table.
//
//   inbox     open `/` until the first row is shown
//   open      click the first row until the message page is live
//   next (j)  press `j` on the message page until the next message is live
//   back      press Esc until the list shows with the left row selected
//   search    type a word and Enter until the matching rows are shown
//   last page click "Oldest" until its rows are shown
import { createRequire } from "node:module";
import path from "node:path";

const [base, roundsArg] = process.argv.slice(2);
if (!base) {
  console.error("usage: ui_timings.mjs BASE_URL [ROUNDS]");
  process.exit(2);
}
const rounds = Number(roundsArg || 10);
const clients = process.env.CLIENTS_DIR || (process.env.TMPDIR || "/tmp") + "/letterbox-peers/clients";
const { chromium } = createRequire(path.join(clients, "x.js"))("playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
// The page's CSP forbids eval, which waitForFunction needs for its checks.
const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, bypassCSP: true });

const live = "document.getElementById('status')?.dataset.state === 'live'";
const samples = {};
async function timed(name, action, until) {
  const start = performance.now();
  await action();
  await page.waitForFunction(until, null, { polling: "raf", timeout: 30000 });
  (samples[name] ||= []).push(performance.now() - start);
}

for (let round = 0; round < rounds; round++) {
  await timed("inbox first rows", () => page.goto(base + "/", { waitUntil: "commit" }),
    "!!document.querySelector('#messages li.row') && " + live);
  const first = await page.evaluate("document.querySelector('#messages li.row').dataset.id");
  await timed("open a message", () => page.click(`li.row[data-id='${first}'] a.open`),
    `location.pathname.startsWith('/message/${first}') && ${live}`);
  await page.evaluate("document.activeElement?.blur(), window.focus()");
  await timed("next message (j)", () => page.keyboard.press("j"),
    `!location.pathname.startsWith('/message/${first}') && location.pathname.startsWith('/message/') && ${live}`);
  const second = await page.evaluate("location.pathname.split('/')[2]");
  await page.evaluate("document.activeElement?.blur(), window.focus()");
  await timed("back to the list (Esc)", () => page.keyboard.press("Escape"),
    `location.pathname === '/' && document.querySelector('li.row.current')?.dataset.id === '${second}'`);
  await timed("search a word", async () => {
    await page.fill("#search", "invoice");
    await page.press("#search", "Enter");
  }, "new URLSearchParams(location.search).get('q') === 'invoice' && !!document.querySelector('#messages li.row') && " + live);
  await page.goto(base + "/", { waitUntil: "load" });
  await timed("last page (Oldest)", () => page.click("#pager a:text-is('Oldest')"),
    "new URLSearchParams(location.search).has('start') && !!document.querySelector('#messages li.row') && " + live);
}

await browser.close();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`| step (${rounds} rounds) | median ms | slowest ms |`);
console.log("|---|---|---|");
for (const [name, xs] of Object.entries(samples)) {
  console.log(`| ${name} | ${median(xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} |`);
}
