#!/usr/bin/env python3
"""A Docker registry token server for kiln's Bearer-flow tests (the protocol Docker Hub,
GHCR and Harbor use): GET /token?service=S&scope=repository:NAME:ACTIONS with HTTP Basic
credentials USER:PASSWORD answers {"token": JWT} for distribution's `auth: token` to verify;
anything else is 401. The JWT is RS256, signed with `openssl dgst` (Python's stdlib has no
RSA), and carries the signing certificate in `x5c`; the registry trusts that certificate as
its `rootcertbundle`. Every request is logged (method, path, whether it authenticated) to
LOGFILE, never the credentials.
Usage: token_server.py KEY.pem CERT.pem USER PASSWORD ISSUER PORTFILE LOGFILE"""
import base64
import http.server
import json
import subprocess
import sys
import time
import urllib.parse


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_der(path):
    pem = open(path).read()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return base64.b64decode("".join(body.split()))


def sign(message):
    out = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", KEY],
        input=message, capture_output=True, check=True)
    return out.stdout


def token(service, scopes, user):
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(cert_der(CERT)).decode()]}
    access = []
    for scope in scopes:
        parts = scope.split(":")
        if len(parts) == 3 and parts[0] == "repository":
            access.append({"type": "repository", "name": parts[1], "actions": parts[2].split(",")})
    claims = {"iss": ISSUER, "sub": user, "aud": service, "exp": now + 600, "nbf": now - 10,
              "iat": now, "jti": str(now), "access": access}
    signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
    return signing_input.decode() + "." + b64url(sign(signing_input))


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        ok = False
        if auth.startswith("Basic "):
            try:
                ok = base64.b64decode(auth[6:]).decode() == USER + ":" + PASSWORD
            except Exception:
                ok = False
        with open(LOG, "a") as log:
            log.write("%s %s authenticated=%s\n" % (self.command, url.path, ok))
        if url.path != "/token" or not ok:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"token": token(query.get("service", [""])[0], query.get("scope", []), USER)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


KEY, CERT, USER, PASSWORD, ISSUER, PORTFILE, LOG = sys.argv[1:8]
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
