// Sends one message with nodemailer configured as the README says for
// Node: host and port, nothing else. Prints one JSON line: the transport's
// answer, or the error.
// Usage: node nodemailer-send.mjs HOST PORT SUBJECT
import nodemailer from "nodemailer";

const [host, port, subject] = process.argv.slice(2);
const transport = nodemailer.createTransport({ host, port: Number(port) });
try {
  const info = await transport.sendMail({
    from: "app@example.com",
    to: "someone@example.org",
    subject,
    text: "sent with nodemailer's defaults",
  });
  console.log(JSON.stringify({ ok: true, response: info.response }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error) }));
}
