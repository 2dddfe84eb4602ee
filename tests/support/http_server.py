#!/usr/bin/env python3
"""A loopback HTTP server for kiln's download tests: serves the files of a directory, logs
every request on its own line to a log file, and answers two special paths:
  /truncated/<name>  announces more bytes than it sends, then closes the connection
  /slow/<name>       sends the file in 40 pieces over about 5 seconds
  anything missing   404
Usage: http_server.py DIR PORTFILE LOGFILE   (binds 127.0.0.1 on a free port, writes it to
PORTFILE once listening)."""
import http.server
import os
import sys
import time


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        with open(LOG, "a") as log:
            log.write("%s %s\n" % (self.command, self.path))

    def do_GET(self):
        if self.path.startswith("/truncated/"):
            name = self.path[len("/truncated/"):]
            data = open(os.path.join(ROOT, name), "rb").read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data) + 1000))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/slow/"):
            name = self.path[len("/slow/"):]
            data = open(os.path.join(ROOT, name), "rb").read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            step = max(1, -(-len(data) // 40))
            for i in range(0, len(data), step):
                self.wfile.write(data[i : i + step])
                self.wfile.flush()
                time.sleep(0.125)
            return
        super().do_GET()


ROOT, PORTFILE, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
os.chdir(ROOT)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
