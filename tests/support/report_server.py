#!/usr/bin/env python3
"""A stand-in for a customer's report server, independent of presenced's code.

Listens on 127.0.0.1 (port chosen by the kernel, printed on stdout), and for
each POST appends one JSON line to --log: the path, the headers presenced sent,
the body, and whether the Signature header is the HMAC-SHA256 of the body
under --key as Python's hmac module computes it.

--status N answers N instead of 200; --hang accepts and never answers;
--fail-first N answers 503 to the first N POSTs (a server that is away for
a while); --hang-after M never answers the M-th POST and those after it;
--cert/--keyfile serve https. Each record has the status answered and the
POST's number (1 for the first), in the order the POSTs arrived.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import ssl
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--hang", action="store_true")
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--hang-after", type=int, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--keyfile")
    args = ap.parse_args()
    counter = {"posts": 0}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with lock:
                counter["posts"] += 1
                number = counter["posts"]
            if args.hang or (args.hang_after and number >= args.hang_after):
                # Said before the hang, so that a test can wait for it.
                with lock, open(args.log + ".hanging", "a") as f:
                    f.write(f"{number}\n")
                time.sleep(3600)
            status = 503 if number <= args.fail_first else args.status
            expected = hmac.new(args.key.encode(), body, hashlib.sha256).hexdigest()
            record = {
                "number": number,
                "status": status,
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "signature": self.headers.get("Signature"),
                "signature_ok": self.headers.get("Signature") == expected,
                "body": body.decode("utf-8", "replace"),
            }
            with lock, open(args.log, "a") as f:
                f.write(json.dumps(record) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.keyfile)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
