// Runs the real npm client `mailpit-api` against a running Letterbox.
//
//   node mailpit-client.mjs BASE_URL CHECK...
//
// Each named check runs in order (each starts from an empty mailbox) and
// prints one JSON line: {"check": NAME, "ok": true} or {"check": NAME,
// "ok": false, "error": "..."}. Exits 0 when every check passed.
// tests/mailpit_client.rs says which checks are expected to pass.

import assert from "node:assert/strict";
import { MailpitClient } from "mailpit-api";

const [base, ...names] = process.argv.slice(2);
const mailpit = new MailpitClient(base);
const CHECK_TIMEOUT_MS = 30_000;

/** Sends a message through the client; returns its ID. */
async function send(subject, extra = {}) {
  const sent = await mailpit.sendMessage({
    From: { Email: "app@example.test", Name: "The App" },
    To: [{ Email: "user@example.test", Name: "A User" }],
    Subject: subject,
    Text: `Text of ${subject}`,
    ...extra,
  });
  assert.equal(typeof sent.ID, "string");
  return sent.ID;
}

/** The promise must reject with the client's error for this status. */
async function rejectsWith(promise, status) {
  await assert.rejects(promise, (err) => {
    assert.match(err.message, new RegExp(`Mailpit API Error: ${status} `));
    return true;
  });
}

const PNG = Buffer.from("89504e470d0a1a0a0000000d49484452", "hex");

const checks = {
  async sendMessage() {
    const id = await send("Full message", {
      Cc: [{ Email: "cc@example.test" }],
      Bcc: ["hidden@example.test"],
      ReplyTo: [{ Email: "reply@example.test" }],
      HTML: '<p>Hi</p><img src="cid:logo">',
      Tags: ["welcome"],
      Headers: { "X-Custom": "custom value" },
      Attachments: [
        { Content: PNG.toString("base64"), Filename: "logo.png", ContentType: "image/png", ContentID: "logo" },
        { Content: Buffer.from("%PDF-1.4").toString("base64"), Filename: "terms.pdf" },
      ],
    });
    const m = await mailpit.getMessageSummary(id);
    assert.equal(m.ID, id);
    assert.deepEqual(m.From, { Name: "The App", Address: "app@example.test" });
    assert.deepEqual(m.To, [{ Name: "A User", Address: "user@example.test" }]);
    assert.deepEqual(m.Cc, [{ Name: "", Address: "cc@example.test" }]);
    // Kept, as Mailpit keeps them.
    assert.deepEqual(m.Bcc, [{ Name: "", Address: "hidden@example.test" }]);
    assert.deepEqual(m.ReplyTo, [{ Name: "", Address: "reply@example.test" }]);
    assert.equal(m.Subject, "Full message");
    assert.match(m.Text, /^Text of Full message/);
    assert.equal(m.HTML.trimEnd(), '<p>Hi</p><img src="cid:logo">');
    assert.deepEqual(m.Tags, ["welcome"]);
    assert.equal(m.Inline.length, 1);
    assert.equal(m.Inline[0].FileName, "logo.png");
    assert.equal(m.Inline[0].ContentID, "logo");
    assert.equal(m.Inline[0].Size, PNG.length);
    assert.deepEqual(
      m.Attachments.map((a) => [a.FileName, a.ContentType, a.Size]),
      [["terms.pdf", "application/pdf", 8]],
    );
    assert.equal(typeof m.Date, "string");
    assert.equal(typeof m.Size, "number");
    assert.equal(typeof m.ListUnsubscribe, "object");
  },

  async listMessages() {
    const ids = [await send("one"), await send("two"), await send("three")];
    const all = await mailpit.listMessages();
    assert.equal(all.total, 3);
    assert.equal(all.unread, 3);
    assert.equal(all.messages_count, 3);
    assert.equal(all.messages_unread, 3);
    assert.equal(all.start, 0);
    assert.deepEqual(all.tags, []);
    assert.deepEqual(all.messages.map((m) => m.ID), [...ids].reverse());
    const summary = all.messages[0];
    assert.equal(summary.Subject, "three");
    assert.equal(summary.Read, false);
    assert.equal(summary.Attachments, 0);
    assert.equal(typeof summary.Created, "string");
    assert.ok(!Number.isNaN(Date.parse(summary.Created)), summary.Created);
    assert.match(summary.Snippet, /Text of three/);
    const page = await mailpit.listMessages(1, 1);
    assert.equal(page.start, 1);
    assert.equal(page.total, 3);
    assert.deepEqual(page.messages.map((m) => m.ID), [ids[1]]);
  },

  async getMessageSummary() {
    const first = await send("first");
    const latest = await send("latest");
    assert.equal((await mailpit.getMessageSummary()).ID, latest);
    assert.equal((await mailpit.getMessageSummary("latest")).ID, latest);
    const m = await mailpit.getMessageSummary(first);
    assert.equal(m.Subject, "first");
    // Letterbox does not mark a message read when it is fetched.
    const [listed] = (await mailpit.searchMessages({ query: "subject:first" })).messages;
    assert.equal(listed.Read, false);
    await rejectsWith(mailpit.getMessageSummary("01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404);
  },

  async getMessageHeaders() {
    const id = await send("Headers", { Headers: { "X-Custom": "custom value" } });
    for (const headers of [await mailpit.getMessageHeaders(id), await mailpit.getMessageHeaders()]) {
      assert.deepEqual(headers["X-Custom"], ["custom value"]);
      assert.deepEqual(headers["Subject"], ["Headers"]);
      assert.ok(Array.isArray(headers["Date"]));
    }
  },

  async getMessageSource() {
    const id = await send("Source");
    for (const source of [await mailpit.getMessageSource(id), await mailpit.getMessageSource()]) {
      assert.equal(typeof source, "string");
      assert.match(source, /^Return-Path: <app@example.test>\r\nFrom: /);
      assert.match(source, /\r\nSubject: Source\r\n/);
      assert.match(source, /Text of Source/);
    }
  },

  async searchMessages() {
    await send("alpha");
    const beta = await send("beta", { Tags: ["b"] });
    await send("alpha again");
    const result = await mailpit.searchMessages({ query: "subject:alpha" });
    assert.equal(result.messages_count, 2);
    assert.equal(result.total, 3);
    assert.deepEqual(result.messages.map((m) => m.Subject), ["alpha again", "alpha"]);
    const paged = await mailpit.searchMessages({ query: "subject:alpha", start: 1, limit: 1 });
    assert.equal(paged.start, 1);
    assert.deepEqual(paged.messages.map((m) => m.Subject), ["alpha"]);
    const tagged = await mailpit.searchMessages({ query: "tag:b", tz: "Europe/Berlin" });
    assert.deepEqual(tagged.messages.map((m) => m.ID), [beta]);
    assert.deepEqual(tagged.tags, ["b"]);
    await rejectsWith(mailpit.searchMessages({ query: "is:bogus" }), 400);
  },

  async waitForMessage() {
    await send("already here");
    const found = await mailpit.waitForMessage({ query: "subject:already" }, { timeout: 20_000, interval: 50 });
    assert.equal(found.Subject, "already here");
    const later = new Promise((resolve) => setTimeout(resolve, 200)).then(() => send("arrives later"));
    const waited = await mailpit.waitForMessage({ query: "subject:later" }, { timeout: 20_000, interval: 50 });
    assert.equal(waited.ID, await later);
    assert.equal(typeof waited.Text, "string");
  },

  async waitForMessages() {
    await send("batch 1");
    const later = new Promise((resolve) => setTimeout(resolve, 200)).then(() => send("batch 2"));
    const result = await mailpit.waitForMessages({ query: "subject:batch", count: 2 }, { timeout: 20_000, interval: 50 });
    await later;
    assert.equal(result.messages_count, 2);
    const exact = await mailpit.waitForMessages({ count: 2, exact: true }, { timeout: 20_000, interval: 50 });
    assert.equal(exact.total, 2);
  },

  async deleteMessages() {
    const ids = [await send("d1"), await send("d2"), await send("d3")];
    assert.equal(await mailpit.deleteMessages({ IDs: [ids[0], ids[2]] }), "ok");
    assert.deepEqual((await mailpit.listMessages()).messages.map((m) => m.ID), [ids[1]]);
    await mailpit.deleteMessages();
    assert.equal((await mailpit.listMessages()).total, 0);
  },

  async deleteMessagesBySearch() {
    await send("remove me");
    const keep = await send("keep me");
    await send("remove me too");
    await mailpit.deleteMessagesBySearch({ query: "subject:remove" });
    assert.deepEqual((await mailpit.listMessages()).messages.map((m) => m.ID), [keep]);
  },

  async setReadStatus() {
    const ids = [await send("r1"), await send("r2"), await send("r3")];
    const readIds = async () =>
      (await mailpit.listMessages()).messages.filter((m) => m.Read).map((m) => m.ID).sort();
    await mailpit.setReadStatus({ IDs: [ids[0]], Read: true });
    assert.deepEqual(await readIds(), [ids[0]]);
    await mailpit.setReadStatus({ Search: "subject:r2", Read: true }, { tz: "UTC" });
    assert.deepEqual(await readIds(), [ids[0], ids[1]].sort());
    await mailpit.setReadStatus({ Read: true });
    assert.equal((await mailpit.getInfo()).Unread, 0);
    await mailpit.setReadStatus({ IDs: [ids[2]], Read: false });
    assert.deepEqual(await readIds(), [ids[0], ids[1]].sort());
    await mailpit.setReadStatus({ Read: false });
    assert.deepEqual(await readIds(), []);
  },

  // The client's documented defaults: no argument marks every message
  // unread, and `Read` left out means false.
  async setReadStatusDefaults() {
    const id = await send("defaults");
    await mailpit.setReadStatus({ Read: true });
    await mailpit.setReadStatus({ IDs: [id] });
    assert.equal((await mailpit.getInfo()).Unread, 1);
    await mailpit.setReadStatus({ Read: true });
    await mailpit.setReadStatus();
    assert.equal((await mailpit.getInfo()).Unread, 1);
  },

  async tags() {
    const a = await send("tag a", { Tags: ["First", "second"] });
    const b = await send("tag b");
    assert.deepEqual(await mailpit.getTags(), ["First", "second"]);
    await mailpit.setTags({ IDs: [a, b], Tags: ["x", "y"] });
    assert.deepEqual(await mailpit.getTags(), ["x", "y"]);
    assert.deepEqual((await mailpit.getMessageSummary(b)).Tags, ["x", "y"]);
    // A name with a space goes through the client's encodeURIComponent.
    await mailpit.renameTag("x", "Tag One");
    assert.deepEqual(await mailpit.getTags(), ["Tag One", "y"]);
    assert.deepEqual((await mailpit.listMessages()).tags, ["Tag One", "y"]);
    await mailpit.renameTag("Tag One", "y");
    assert.deepEqual(await mailpit.getTags(), ["y"]);
    await mailpit.deleteTag("y");
    assert.deepEqual(await mailpit.getTags(), []);
    assert.equal((await mailpit.listMessages()).total, 2);
    await mailpit.setTags({ IDs: [a], Tags: ["again"] });
    await mailpit.setTags({ IDs: [a], Tags: [] });
    assert.deepEqual(await mailpit.getTags(), []);
    await rejectsWith(mailpit.renameTag("absent", "x"), 404);
    await rejectsWith(mailpit.deleteTag("absent"), 404);
  },

  // The client documents that leaving `Tags` out clears a message's tags.
  async setTagsWithoutTags() {
    const id = await send("untag", { Tags: ["gone"] });
    await mailpit.setTags({ IDs: [id] });
    assert.deepEqual((await mailpit.getMessageSummary(id)).Tags, []);
  },

  async getInfo() {
    await send("counted");
    const info = await mailpit.getInfo();
    assert.equal(typeof info.Version, "string");
    assert.equal(typeof info.LatestVersion, "string");
    assert.equal(typeof info.Database, "string");
    assert.equal(typeof info.DatabaseSize, "number");
    assert.equal(info.Messages, 1);
    assert.equal(info.Unread, 1);
    assert.equal(typeof info.Tags, "object");
    for (const key of ["Uptime", "Memory", "MessagesDeleted", "SMTPAccepted", "SMTPAcceptedSize", "SMTPRejected", "SMTPIgnored"]) {
      assert.equal(typeof info.RuntimeStats[key], "number", key);
    }
  },

  async getConfiguration() {
    const config = await mailpit.getConfiguration();
    assert.equal(typeof config.Label, "string");
    assert.equal(config.MessageRelay.Enabled, false);
    for (const key of ["SMTPServer", "ReturnPath", "AllowedRecipients", "BlockedRecipients", "OverrideFrom"]) {
      assert.equal(typeof config.MessageRelay[key], "string", key);
    }
    for (const key of ["SpamAssassin", "ChaosEnabled", "DuplicatesIgnored", "HideDeleteAllButton"]) {
      assert.equal(typeof config[key], "boolean", key);
    }
  },

  async getMessageAttachment() {
    const id = await send("With parts", {
      HTML: '<img src="cid:logo">',
      Attachments: [
        { Content: PNG.toString("base64"), Filename: "logo.png", ContentType: "image/png", ContentID: "logo" },
        { Content: Buffer.from("%PDF-1.4").toString("base64"), Filename: "terms.pdf" },
      ],
    });
    const m = await mailpit.getMessageSummary(id);
    const pdf = await mailpit.getMessageAttachment(id, m.Attachments[0].PartID);
    assert.match(pdf.type, /^application\/pdf/);
    assert.equal(Buffer.from(await pdf.arrayBuffer()).toString(), "%PDF-1.4");
    const png = await mailpit.getMessageAttachment("latest", m.Inline[0].PartID);
    assert.match(png.type, /^image\/png/);
    assert.deepEqual(Buffer.from(await png.arrayBuffer()), PNG);
  },

  async renderMessage() {
    const id = await send("Views", { HTML: "<p>Rendered <b>HTML</b></p>" });
    assert.match(await mailpit.renderMessageHTML(id), /<p>Rendered <b>HTML<\/b><\/p>/);
    assert.match(await mailpit.renderMessageHTML(), /Rendered/);
    assert.match(await mailpit.renderMessageText(id), /^Text of Views/);
    assert.match(await mailpit.renderMessageText(), /Text of Views/);
  },

  // Chaos triggers: read, set (omitted triggers reset), refused when bad.
  async chaosTriggers() {
    const initial = await mailpit.getChaosTriggers();
    assert.equal(initial.Sender.ErrorCode, 451);
    assert.equal(initial.Recipient.Probability, 0);
    assert.equal(initial.Authentication.ErrorCode, 535);
    try {
      const set = await mailpit.setChaosTriggers({ Sender: { ErrorCode: 452, Probability: 100 } });
      assert.equal(set.Sender.ErrorCode, 452);
      assert.equal(set.Sender.Probability, 100);
      assert.equal(set.Recipient.Probability, 0);
      const now = await mailpit.getChaosTriggers();
      assert.deepEqual(now.Sender, set.Sender);
      await rejectsWith(mailpit.setChaosTriggers({ Sender: { ErrorCode: 250, Probability: 5 } }), "400");
    } finally {
      await mailpit.setChaosTriggers();
    }
    assert.equal((await mailpit.getChaosTriggers()).Sender.Probability, 0);
  },

  // Release through the relay the instance was started with (see
  // tests/mailpit_client.rs, which checks that the upstream got it).
  async releaseMessage() {
    const id = await send("Release me");
    await mailpit.releaseMessage(id, { To: ["released@example.test"] });
    await rejectsWith(mailpit.releaseMessage(id, { To: [] }), "400");
    await rejectsWith(mailpit.releaseMessage("01ARZ3NDEKTSV4RRFFQ69G5FAV", { To: ["a@example.test"] }), "404");
  },

  // Without a relay, a release is refused with a message saying how to set one up.
  async releaseWithoutRelay() {
    const id = await send("Nowhere to go");
    await assert.rejects(mailpit.releaseMessage(id, { To: ["released@example.test"] }), (err) => {
      assert.match(err.message, /Mailpit API Error: 400 .*--relay-host/);
      return true;
    });
  },

  // Without `--spamassassin` there is no spam score: the client must get
  // its clear error (a 404), never hang or crash.
  async spamAssassinCheckUnconfigured() {
    const id = await send("No spamd");
    await rejectsWith(mailpit.spamAssassinCheck(id), "404").catch((err) => {
      throw new Error(`spamAssassinCheck: ${err.message}`);
    });
  },

  // With `--spamassassin` pointing at a real spamd: the score in the shape
  // the client's own e2e suite expects of Mailpit.
  async spamAssassinCheck() {
    const id = await send("Scored", { HTML: "<p>Your <b>invoice</b> is attached.</p>" });
    for (const which of [id, undefined]) {
      const check = await mailpit.spamAssassinCheck(which);
      assert.deepEqual(Object.keys(check).sort(), ["Error", "IsSpam", "Rules", "Score"]);
      assert.equal(check.Error, "", JSON.stringify(check));
      assert.equal(typeof check.IsSpam, "boolean");
      assert.equal(typeof check.Score, "number");
      assert.ok(Array.isArray(check.Rules) && check.Rules.length > 0, JSON.stringify(check));
      for (const rule of check.Rules) {
        assert.deepEqual(Object.keys(rule).sort(), ["Description", "Name", "Score"]);
        assert.equal(typeof rule.Name, "string");
        assert.equal(typeof rule.Description, "string");
        assert.equal(typeof rule.Score, "number");
      }
    }
  },

  // The checks Mailpit has and Letterbox now serves, in the client's types.
  async checksAndThumbnails() {
    const id = await send("Checks", {
      HTML: '<div style="display:flex"><a href="http://127.0.0.1:9/">x</a></div>',
      Attachments: [{ Content: PNG.toString("base64"), Filename: "logo.png" }],
    });
    const summary = await mailpit.getMessageSummary(id);
    const thumb = await mailpit.getAttachmentThumbnail(id, summary.Attachments[0].PartID);
    assert.equal(thumb.type, "image/jpeg");
    const html = await mailpit.htmlCheck(id);
    assert.ok(html.Warnings.some((w) => w.Slug === "css-display-flex"), JSON.stringify(html.Warnings.map((w) => w.Slug)));
    for (const follow of [false, true]) {
      const links = await mailpit.linkCheck(id, follow);
      assert.equal(links.Errors, 1, JSON.stringify(links));
      assert.equal(links.Links.length, 1);
      assert.equal(links.Links[0].URL, "http://127.0.0.1:9/");
      assert.equal(links.Links[0].StatusCode, 0, "an internal address is refused, never fetched");
      assert.match(links.Links[0].Status, /refused/);
    }
  },
};

let failed = false;
for (const name of names) {
  const check = checks[name];
  let result;
  if (!check) {
    result = { check: name, ok: false, error: "no such check" };
  } else {
    try {
      await mailpit.deleteMessages();
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      });
      await Promise.race([check(), timeout]).finally(() => clearTimeout(timer));
      result = { check: name, ok: true };
    } catch (err) {
      result = { check: name, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) };
    }
  }
  failed ||= !result.ok;
  console.log(JSON.stringify(result));
}
process.exit(failed ? 1 : 0);
