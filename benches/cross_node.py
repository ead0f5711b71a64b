#!/usr/bin/env python3
"""Cross-node push latency: the time from node A's `250` to node B's
WebSocket `new` event for the same message (two Letterbox nodes on one
PostgreSQL database). Prints p50/p99/max in ms.

    benches/cross_node.py SMTP_A HTTP_B [N]     e.g. 127.0.0.1:2525 127.0.0.1:8026 500
"""
import base64, json, os, smtplib, socket, struct, sys, threading, time

smtp_a, http_b = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 500
host, port = http_b.rsplit(":", 1)

# A minimal WebSocket client: the server's frames are unmasked.
ws = socket.create_connection((host, int(port)))
key = base64.b64encode(os.urandom(16)).decode()
ws.sendall((f"GET /api/events HTTP/1.1\r\nHost: {http_b}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += ws.recv(4096)
head, buf = buf.split(b"\r\n\r\n", 1)
assert b" 101 " in head.split(b"\r\n")[0], head

arrived, cond = {}, threading.Condition()

def read_exact(k):
    global buf
    while len(buf) < k:
        chunk = ws.recv(65536)
        if not chunk:
            raise EOFError
        buf += chunk
    out, buf = buf[:k], buf[k:]
    return out

def reader():
    while True:
        b0, b1 = read_exact(2)
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack(">H", read_exact(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", read_exact(8))[0]
        payload = read_exact(length)
        if b0 & 0x0F != 1:
            continue
        event = json.loads(payload)
        if event.get("Type") == "new":
            with cond:
                arrived[event["Data"]["ID"]] = time.perf_counter()
                cond.notify_all()

threading.Thread(target=reader, daemon=True).start()
time.sleep(0.3)
s_host, s_port = smtp_a.rsplit(":", 1)
smtp = smtplib.SMTP(s_host, int(s_port))
smtp.ehlo("bench.example")
latencies = []
for i in range(n):
    smtp.mail("a@example.com")
    smtp.rcpt("b@example.com")
    code, reply = smtp.data(f"Subject: cross {i}\r\n\r\nhello\r\n".encode())
    acknowledged = time.perf_counter()
    assert code == 250, (code, reply)
    msg_id = reply.decode().rsplit(" ", 1)[-1]
    with cond:
        if not cond.wait_for(lambda: msg_id in arrived, timeout=10):
            sys.exit(f"no event on B for {msg_id}")
        latencies.append(max(0.0, arrived[msg_id] - acknowledged) * 1000)
smtp.quit()
latencies.sort()
pick = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))]
print(f"{n} messages, 250 on A -> WebSocket 'new' on B: "
      f"p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms, max {latencies[-1]:.1f} ms")
