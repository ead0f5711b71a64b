#!/usr/bin/env node
// ui_timings.mjs ROUNDS NAME=BASE_URL...      (NAME: letterbox or maildev)
//
// Times what a person waits for in each web UI, in Debian's Chromium driven by
// playwright-core (never downloads a browser; benches/ui_timings.sh sets it up,
// starts the servers and fills each with the same messages). Every tool gets a
// fresh browser context; the rounds alternate between the tools so that load
// from elsewhere on the machine falls on both. Each step is timed from the
// action (navigation, click, key or scroll) until what the person looks for is
// on screen, ROUNDS times; the median and the slowest of each tool are printed
// side by side as one Markdown table.
//
//   inbox          open `/` until the first row is shown (Letterbox: and its
//                  live connection is up, which its keys need; MailDev's rows
//                  come from its script, so they imply it)
//   open           click the first row until that message's text body is shown
//   next (j)       press `j` until the next message's text body is shown
//   back (Esc)     Letterbox: until the list shows with the left row selected;
//                  MailDev: until its reading pane is empty (its list never left)
//   search         Letterbox: type a word and Enter until the matching rows show;
//                  MailDev: type the word (it searches as one types, after a
//                  200 ms pause) until only matching rows show
//   oldest         from a loaded inbox until the row of the oldest message is
//                  shown: Letterbox clicks its pager's "Oldest"; MailDev has no
//                  pager, so its list is scrolled to the end, once a frame,
//                  until the oldest row has been loaded
import { createRequire } from "node:module";
import path from "node:path";

const [roundsArg, ...targets] = process.argv.slice(2);
const bases = Object.fromEntries(targets.map((t) => t.split(/=(.*)/s).slice(0, 2)));
if (!Number(roundsArg) || !targets.length || Object.keys(bases).some((n) => !(n in tools()))) {
  console.error("usage: ui_timings.mjs ROUNDS letterbox=URL [maildev=URL]");
  process.exit(2);
}
const rounds = Number(roundsArg);
const clients = process.env.CLIENTS_DIR || (process.env.TMPDIR || "/tmp") + "/letterbox-peers/clients";
const { chromium } = createRequire(path.join(clients, "x.js"))("playwright-core");

const steps = [
  ["inbox-shown", "inbox first rows shown (Letterbox: before it is live)"],
  ["inbox", "inbox first rows"],
  ["open", "open a message"],
  ["next", "next message (j)"],
  ["back", "back to the list (Esc)"],
  ["search", "search a word"],
  ["oldest-shown", "oldest message's row shown (Letterbox: before it is live)"],
  ["oldest", "reach the oldest message"],
];
const word = "invoice";

// Each tool's steps; `t(step, action, until)` times one, `s` carries ids between steps.
function tools() {
  return {
    letterbox: {
      title: "Letterbox",
      // The last row of the last page, as the API orders the list.
      async oldestId(base) {
        const { total } = await (await fetch(`${base}/api/v1/messages?limit=1`)).json();
        const page = await (await fetch(`${base}/api/v1/messages?start=${total - 1}&limit=1`)).json();
        return page.messages[0].ID;
      },
      async round(page, base, t, s) {
        const live = "document.getElementById('status')?.dataset.state === 'live'";
        const onMessage = (id) => `location.pathname.startsWith('/message/${id}') && !!document.querySelector('pre.text-body') && ${live}`;
        await page.goto("about:blank");
        await t("inbox", () => page.goto(base + "/", { waitUntil: "commit" }),
          "!!document.querySelector('#messages li.row') && " + live,
          ["inbox-shown", "!!document.querySelector('#messages li.row')"]);
        const first = await page.evaluate("document.querySelector('#messages li.row').dataset.id");
        await t("open", () => page.click(`li.row[data-id='${first}'] a.open`), onMessage(first));
        await page.evaluate("document.activeElement?.blur(), window.focus()");
        await t("next", () => page.keyboard.press("j"),
          `location.pathname.split('/')[2] !== '${first}' && ${onMessage("")}`);
        const second = await page.evaluate("location.pathname.split('/')[2]");
        await page.evaluate("document.activeElement?.blur(), window.focus()");
        await t("back", () => page.keyboard.press("Escape"),
          `location.pathname === '/' && document.querySelector('li.row.current')?.dataset.id === '${second}'`);
        await t("search", async () => {
          await page.fill("#search", word);
          await page.press("#search", "Enter");
        }, `new URLSearchParams(location.search).get('q') === '${word}' && !!document.querySelector('#messages li.row') && ${live}`);
        await page.goto(base + "/", { waitUntil: "load" });
        await t("oldest", () => page.click("#pager a:text-is('Oldest')"),
          `!!document.querySelector("#messages li.row[data-id='${s.oldest}']") && ${live}`,
          ["oldest-shown", `!!document.querySelector("#messages li.row[data-id='${s.oldest}']")`]);
      },
    },
    maildev: {
      title: "MailDev 3.0",
      async oldestId(base) {
        const { total } = await (await fetch(`${base}/api/email/summary?skip=0&limit=1`)).json();
        const page = await (await fetch(`${base}/api/email/summary?skip=${total - 1}&limit=1`)).json();
        return page.items[0].id;
      },
      async round(page, base, t, s) {
        const row = "[data-testid=email-list-item]";
        const shows = (id) => `!!document.querySelector("[data-testid=email-viewer][data-email-id='${id}'] pre")`;
        await page.goto("about:blank");
        await t("inbox", () => page.goto(base + "/", { waitUntil: "commit" }), `!!document.querySelector('${row}')`);
        const [first, second] = await page.$$eval(row, (rows) => rows.slice(0, 2).map((r) => r.dataset.emailId));
        await t("open", () => page.click(`${row}[data-email-id='${first}']`), shows(first));
        await page.evaluate("document.activeElement?.blur(), window.focus()");
        await t("next", () => page.keyboard.press("j"), shows(second));
        await page.evaluate("document.activeElement?.blur(), window.focus()");
        await t("back", () => page.keyboard.press("Escape"),
          "!!document.querySelector('[data-testid=email-viewer-empty]')");
        await t("search", () => page.fill("[data-testid=search-input]", word),
          `(() => { const rows = [...document.querySelectorAll('${row}')];
            return rows.length > 0 && rows.every((r) => r.textContent.includes('${word}')); })()`);
        await page.goto(base + "/", { waitUntil: "load" });
        await page.waitForSelector(row);
        const oldest = `${row}[data-email-id='${s.oldest}']`;
        await t("oldest", () => page.evaluate(async (oldest) => {
          const list = document.querySelector("[data-testid=email-list]").parentElement;
          const deadline = performance.now() + 60000;
          while (!document.querySelector(oldest) && performance.now() < deadline) {
            list.scrollTop = list.scrollHeight;
            await new Promise(requestAnimationFrame);
          }
        }, oldest), `!!document.querySelector("${oldest}")`);
      },
    },
  };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const all = tools();
const runs = [];
for (const [name, base] of Object.entries(bases)) {
  // Letterbox's CSP forbids eval, which waitForFunction needs for its checks.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true });
  runs.push({ name, base, tool: all[name], page: await context.newPage(), samples: {}, state: { oldest: await all[name].oldestId(base) } });
}

for (let round = 0; round < rounds; round++) {
  for (const run of runs) {
    // `shown`, when given, is [step, condition]: an earlier point on the way
    // to `until` (what a person sees before the page's keys work), timed too.
    const t = async (step, action, until, shown) => {
      const start = performance.now();
      await action();
      if (shown) {
        await run.page.waitForFunction(shown[1], null, { polling: "raf", timeout: 60000 });
        (run.samples[shown[0]] ||= []).push(performance.now() - start);
      }
      await run.page.waitForFunction(until, null, { polling: "raf", timeout: 60000 });
      (run.samples[step] ||= []).push(performance.now() - start);
    };
    await run.tool.round(run.page, run.base, t, run.state);
  }
}
await browser.close();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cell = (xs) => (xs ? `${median(xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)}` : "– | –");
console.log(`| step (${rounds} rounds, ms) | ${runs.map((r) => `${r.tool.title} median | slowest`).join(" | ")} |`);
console.log(`|---|${runs.map(() => "---|---").join("|")}|`);
for (const [key, label] of steps) {
  console.log(`| ${label} | ${runs.map((r) => cell(r.samples[key])).join(" | ")} |`);
}
