"""An OpenAI-compatible chat server whose answer streams one word every 0.1 s for two minutes:
the model behind an `ask` that a client cancels. Usage: slow_model.py LOG; prints its port.
Writes "started N T" when completion N begins and "closed N T" when its client hangs up
(N counts the completions: the first is the ask's)."""

import itertools
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = sys.argv[1]
COUNT = itertools.count(1)


def log(line):
    with open(LOG, "a") as f:
        f.write(f"{line} {time.time()}\n")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        n = next(COUNT)
        log(f"started {n}")
        try:
            for _ in range(1200):
                chunk = {"choices": [{"index": 0, "delta": {"content": "Cresson "}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.1)
            self.wfile.write(b"data: [DONE]\n\n")
            log(f"finished {n}")
        except (BrokenPipeError, ConnectionResetError):
            log(f"closed {n}")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
