"""nats_api.py PORT SUBJECT [JSON]: one JetStream API request (e.g.
$JS.API.CONSUMER.INFO.STREAMGATE.deliver), the answer printed as JSON.
Speaks the NATS text protocol directly (CONNECT, SUB, PUB, MSG): tests
read the servers' own view without a client library."""
import json
import socket
import sys


def request(port, subject, payload=b"", timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    f = s.makefile("rb")
    if not f.readline().startswith(b"INFO "):
        raise RuntimeError("not a NATS server")
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n'
              b"SUB _INBOX.sgtest 1\r\n"
              b"PUB %s _INBOX.sgtest %d\r\n%s\r\nPING\r\n"
              % (subject.encode(), len(payload), payload))
    while True:
        line = f.readline()
        if not line:
            raise RuntimeError("connection closed")
        if line.startswith(b"PING"):
            s.sendall(b"PONG\r\n")
        elif line.startswith(b"-ERR"):
            raise RuntimeError(line.decode().strip())
        elif line.startswith(b"MSG "):
            n = int(line.split()[-1])
            data = f.read(n + 2)[:n]
            s.close()
            return json.loads(data)


if __name__ == "__main__":
    body = sys.argv[3].encode() if len(sys.argv) > 3 else b""
    print(json.dumps(request(int(sys.argv[1]), sys.argv[2], body)))
