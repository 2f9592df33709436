#!/usr/bin/env python
"""Stand-ins for the third-party services the submit view calls (notifications, PDF rendering, two
HR systems), on loopback. Each answers POST after a fixed delay per service, so the serial fan-out
costs about what it would against real services, deterministically.

Usage: stub_services.py [--port 8765]   (0 picks a free port; the first stdout line names it)
"""

import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Seconds per service, by the first path segment.
DELAYS = {"notify": 0.030, "pdf": 0.060, "hr": 0.045}


class StubHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        service = self.path.strip("/").split("/")[0]
        if service not in DELAYS:
            self.send_error(404)
            return
        time.sleep(DELAYS[service])
        body = json.dumps({"ok": True, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # readiness probe
        self.send_response(204)
        self.end_headers()

    def log_message(self, format, *args):
        pass  # quiet: the app's traces are the record of these calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), StubHandler)
    server.daemon_threads = True
    print(f"stub services on http://127.0.0.1:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
