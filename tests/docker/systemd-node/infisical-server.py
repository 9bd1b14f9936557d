#!/usr/bin/env python3
"""Test stand-in for the Infisical server (a service on the fortress server), for the CLI stand-in.

Reads its vault as one JSON document on stdin, so the test's secrets never touch a file:
{"project": "<id>", "identities": {"<client id>": "<client secret>"}, "envs": {"prod": {"/samba": {"NAME": "v"}}}}
then serves on $BIND:$PORT (default 0.0.0.0:8080; tests on this machine bind 127.0.0.1):
- POST /api/v1/auth/universal-auth/login {"clientId", "clientSecret"} -> {"accessToken", "expiresIn", "tokenType"};
  401 for an unknown pair.
- GET /api/v3/secrets/raw?workspaceId=&environment=&secretPath= (Bearer token) -> {"secrets": [{"secretKey",
  "secretValue"}]}; 401 without a valid token, 404 for an unknown project, environment or folder.
Every request is printed (method, path, status; never a body) to stdout.
"""

import json
import os
import secrets
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VAULT = json.loads(sys.stdin.read())
TOKENS: set[str] = set()


class Handler(BaseHTTPRequestHandler):
    def reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        print(f"{self.command} {urllib.parse.urlsplit(self.path).path} {code}", flush=True)

    def log_message(self, *args: object) -> None:  # the line above is the log
        return

    def do_POST(self) -> None:
        if self.path != "/api/v1/auth/universal-auth/login":
            return self.reply(404, {"message": "not found"})
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        if VAULT.get("identities", {}).get(body.get("clientId")) != body.get("clientSecret"):
            return self.reply(401, {"message": "Invalid credentials"})
        token = secrets.token_hex(16)
        TOKENS.add(token)
        return self.reply(200, {"accessToken": token, "expiresIn": 7200, "tokenType": "Bearer"})

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/api/v3/secrets/raw":
            return self.reply(404, {"message": "not found"})
        if self.headers.get("Authorization", "").removeprefix("Bearer ") not in TOKENS:
            return self.reply(401, {"message": "Token missing or invalid"})
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        if q.get("workspaceId") != VAULT.get("project"):
            return self.reply(404, {"message": "Project not found"})
        folders = VAULT.get("envs", {}).get(q.get("environment", ""))
        if folders is None or q.get("secretPath") not in folders:
            return self.reply(404, {"message": f"Folder with path '{q.get('secretPath')}' not found"})
        items = [{"secretKey": k, "secretValue": v} for k, v in folders[q["secretPath"]].items()]
        return self.reply(200, {"secrets": items})


if __name__ == "__main__":
    address = (os.environ.get("BIND", "0.0.0.0"), int(os.environ.get("PORT", "8080")))
    server = ThreadingHTTPServer(address, Handler)
    print(f"listening on {address[0]}:{server.server_address[1]}", flush=True)
    server.serve_forever()
