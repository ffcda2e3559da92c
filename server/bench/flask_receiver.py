"""A minimal Flask + SQLite receiver of NCompass-Cloudtrax's shape, written
for `make bench-server` as the baseline (NCompass itself cannot be fetched
here and does not run as published).

Like NCompass: one POST route, the JSON parsed, every probe_requests item
inserted as a row of one table (text columns), one commit per request, the
Flask development server (threaded), and no Signature check. Unlike it: the
standard sqlite3 module instead of Flask-SQLAlchemy/Marshmallow (fewer
layers, so this baseline is if anything faster), WAL, and all ten fields.

Usage: python flask_receiver.py PORT DATABASE
"""
import sqlite3
import sys
import threading

from flask import Flask, request

app = Flask(__name__)
DATABASE = sys.argv[2]
local = threading.local()
FIELDS = ["mac", "count", "min_signal", "max_signal", "avg_signal",
          "last_seen_signal", "first_seen", "last_seen", "associated"]


def db():
    if not hasattr(local, "conn"):
        local.conn = sqlite3.connect(DATABASE, timeout=30)
        local.conn.execute("PRAGMA journal_mode=WAL")
    return local.conn


@app.route("/receive", methods=["POST"])
def receive():
    report = request.get_json(force=True)
    rows = [tuple([report["node_mac"]] + [str(p[f]) for f in FIELDS])
            for p in report["probe_requests"]]
    conn = db()
    conn.executemany(
        "INSERT INTO probe_request (node_mac, mac, count, min_signal, max_signal, avg_signal,"
        " last_seen_signal, first_seen, last_seen, associated) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    conn.commit()
    return "ok"


if __name__ == "__main__":
    c = sqlite3.connect(DATABASE)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE IF NOT EXISTS probe_request (id INTEGER PRIMARY KEY, node_mac TEXT,"
              " mac TEXT, count TEXT, min_signal TEXT, max_signal TEXT, avg_signal TEXT,"
              " last_seen_signal TEXT, first_seen TEXT, last_seen TEXT, associated TEXT)")
    c.commit()
    c.close()
    print("listening on http://127.0.0.1:%s" % sys.argv[1], file=sys.stderr, flush=True)
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
