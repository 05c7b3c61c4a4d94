#!/usr/bin/env python3
"""workload.py PORT [IDLE_S | probe | first]: drives a loopcast server through
the common working set (/broadcast and /ws upgrades, frames,
join/publish/subscribe, an idle pause, closes), for benches/layout/regen.sh.
`probe`: a TCP connection closed unused (what health checks and load
balancers do to an idle server); `first`: one /broadcast client with one
message."""
import socket, base64, os, time, sys, json, struct
port = int(sys.argv[1])
def up(path):
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall((f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    c.settimeout(5); buf = b""
    while b"\r\n\r\n" not in buf: buf += c.recv(4096)
    return c
def frame(op, payload):
    mask = os.urandom(4); n = len(payload)
    head = bytes([0x80 | op]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
def drain(c, t=0.2):
    c.settimeout(t)
    try:
        while c.recv(65536): pass
    except OSError: pass
if sys.argv[2:] == ["probe"]:
    socket.create_connection(("127.0.0.1", port)).close()
    time.sleep(1)
    sys.exit(0)
if sys.argv[2:] == ["first"]:
    c = up("/broadcast")
    c.sendall(frame(2, b"first"))
    drain(c)
    c.close()
    time.sleep(1)  # past the spare pool's trim
    sys.exit(0)
bs = [up("/broadcast") for _ in range(20)]
bs[0].sendall(frame(1, b"hello") + frame(2, b"\x00\x01") + frame(9, b"p"))
ws = [up("/ws?user=u%d" % i) for i in range(5)]
for i, c in enumerate(ws):
    c.sendall(frame(1, json.dumps({"action": "join", "room": "lobby", "ref": "j"}).encode()))
for c in ws: drain(c)
ws[0].sendall(frame(1, json.dumps({"action": "publish", "room": "lobby", "message": "hi", "ref": "p"}).encode()))
ws[1].sendall(frame(1, json.dumps({"action": "subscribe", "topic": "t", "ref": "s"}).encode()))
ws[2].sendall(frame(1, json.dumps({"action": "publish", "topic": "t", "message": {"a": 1}}).encode()))
for c in ws + bs: drain(c, 0.1)
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 1)
for c in bs + ws: c.close()
time.sleep(1)
print("workload done")
