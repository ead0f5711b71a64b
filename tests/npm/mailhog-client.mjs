// Runs the real npm client `mailhog` (for suites written against MailHog)
// against a running Letterbox.
//
//   node mailhog-client.mjs BASE_URL CHECK...
//
// Each named check runs in order (each starts from an empty mailbox) and
// prints one JSON line: {"check": NAME, "ok": true} or {"check": NAME,
// "ok": false, "error": "..."}. Exits 0 when every check passed.

import assert from "node:assert/strict";
import createClient from "mailhog";

const [base, ...names] = process.argv.slice(2);
const url = new URL(base);
const mailhog = createClient({ protocol: url.protocol, host: url.hostname, port: url.port, basePath: "/api" });

/** Stores a message through Letterbox's send API; returns its ID. */
async function send(message) {
  const response = await fetch(new URL("/api/v1/send", base), {
    method: "POST",
    body: JSON.stringify({ From: { Email: "app@example.test", Name: "The App" }, ...message }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).ID;
}

const checks = {
  async messagesAndGetters() {
    await send({
      To: [{ Email: "ann@example.test", Name: "Ann" }],
      Cc: [{ Email: "cc@example.test" }],
      Subject: "Grüße from the app",
      Text: "Your code is 123456",
      HTML: "<p>Your code is <b>123456</b></p>",
      Attachments: [{ Content: Buffer.from("%PDF-1.4").toString("base64"), Filename: "terms.pdf" }],
    });
    await send({ To: [{ Email: "bob@example.test" }], Subject: "Second", Text: "plain only" });
    const result = await mailhog.messages(0, 10);
    assert.equal(result.total, 2);
    assert.equal(result.count, 2);
    const [second, first] = result.items;
    assert.equal(second.subject, "Second");
    assert.equal(second.text.trim(), "plain only");
    assert.equal(first.subject, "Grüße from the app");
    assert.equal(first.from, '"The App" <app@example.test>');
    assert.match(first.to, /ann@example\.test/);
    assert.match(first.cc, /cc@example\.test/);
    assert.equal(first.text, "Your code is 123456");
    assert.equal(first.html, "<p>Your code is <b>123456</b></p>");
    assert.ok(first.date instanceof Date && !isNaN(first.date));
    assert.ok(first.deliveryDate instanceof Date && !isNaN(first.deliveryDate));
    assert.equal(first.attachments.length, 1);
    assert.equal(first.attachments[0].name, "terms.pdf");
    assert.match(first.attachments[0].type, /^application\/pdf;/);
    assert.equal(first.attachments[0].encoding, "base64");
  },

  async searchAndLatest() {
    await send({ To: [{ Email: "ann@example.test" }], Subject: "For Ann", Text: "alpha words" });
    await send({ To: [{ Email: "bob@example.test" }], Bcc: ["hidden@example.test"], Subject: "For Bob", Text: "beta words" });
    assert.equal((await mailhog.search("beta")).total, 1);
    assert.equal((await mailhog.search("app@example.test", "from")).total, 2);
    assert.equal((await mailhog.latestTo("ann@example.test")).subject, "For Ann");
    assert.equal((await mailhog.latestTo("hidden@example.test")).subject, "For Bob");
    assert.equal((await mailhog.latestFrom("app@example.test")).subject, "For Bob");
    assert.equal((await mailhog.latestContaining("alpha")).subject, "For Ann");
    assert.equal(await mailhog.latestContaining("nothing-matches"), 0);
  },

  async deleteMessageAndAll() {
    const id = await send({ To: [{ Email: "x@example.test" }], Subject: "one", Text: "1" });
    await send({ To: [{ Email: "x@example.test" }], Subject: "two", Text: "2" });
    const deleted = await mailhog.deleteMessage(id);
    assert.equal(deleted.statusCode, 200);
    assert.equal((await mailhog.messages()).total, 1);
    const all = await mailhog.deleteAll();
    assert.equal(all.statusCode, 200);
    assert.equal((await mailhog.messages()).total, 0);
  },
};

let failed = false;
for (const name of names) {
  await fetch(new URL("/api/v1/messages", base), { method: "DELETE" });
  const check = checks[name];
  try {
    if (!check) throw new Error(`no check named ${name}`);
    await check();
    console.log(JSON.stringify({ check: name, ok: true }));
  } catch (error) {
    failed = true;
    console.log(JSON.stringify({ check: name, ok: false, error: String(error?.stack ?? error) }));
  }
}
process.exit(failed ? 1 : 0);
