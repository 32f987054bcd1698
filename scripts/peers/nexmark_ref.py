#!/usr/bin/env python3
"""A plain-Python reference for Nexmark q5, q7 and q8 (and q2) over `rill-bench gen nexmark` files.

Independent of Flink and of Rill: it reads the CSV files with the standard library and computes the
final result of each query as batch semantics over the whole input, which is what an event-time
streaming engine produces once the final watermark has passed, provided no record is late
(the generator writes every table in event-time order, and the watermark trails the maximum event
time by 4 s, so none is). Windows are aligned on the Unix epoch, half-open ``[start, end)``.

* q2: ``auction,price`` of the bids with ``auction % 123 == 0``.
* q5: per 10 s window sliding by 2 s, every auction whose bid count equals the window's largest
  count (ties kept): ``auction,num,window_start_ms,window_end_ms``.
* q7: per 10 s tumbling window, every bid whose price equals the window's highest price:
  ``auction,price,bidder,date_time,extra``.
* q8: persons who opened an auction (as seller) in the 10 s tumbling window in which they
  registered: ``id,name,window_start_ms``, one row per distinct (id, name, window).

Usage: ``python3 nexmark_ref.py --query q5 --input DIR --output OUT.csv`` (rows in no
particular order; compare sorted).
"""

import argparse
import csv
import os
from collections import defaultdict

WINDOW_MS = 10_000
SLIDE_MS = 2_000


def rows(path):
    with open(path, newline="") as f:
        yield from csv.DictReader(f)


def q2(d):
    out = []
    for b in rows(os.path.join(d, "bid.csv")):
        if int(b["auction"]) % 123 == 0:
            out.append((b["auction"], b["price"]))
    return ["auction", "price"], out


def q5(d):
    counts = defaultdict(int)  # (window_start, auction) -> count
    for b in rows(os.path.join(d, "bid.csv")):
        ts, auction = int(b["date_time"]), int(b["auction"])
        last = ts - ts % SLIDE_MS  # the latest window start <= ts
        for k in range(WINDOW_MS // SLIDE_MS):
            counts[(last - k * SLIDE_MS, auction)] += 1
    best = defaultdict(int)
    for (start, _), n in counts.items():
        best[start] = max(best[start], n)
    out = [(a, n, s, s + WINDOW_MS) for (s, a), n in counts.items() if n == best[s]]
    return ["auction", "num", "window_start_ms", "window_end_ms"], out


def q7(d):
    bids = list(rows(os.path.join(d, "bid.csv")))
    best = {}
    for b in bids:
        ts, price = int(b["date_time"]), int(b["price"])
        w = ts - ts % WINDOW_MS
        best[w] = max(best.get(w, price), price)
    out = []
    for b in bids:
        ts, price = int(b["date_time"]), int(b["price"])
        if price == best[ts - ts % WINDOW_MS]:
            out.append((b["auction"], b["price"], b["bidder"], b["date_time"], b["extra"]))
    return ["auction", "price", "bidder", "date_time", "extra"], out


def q8(d):
    people = set()
    for p in rows(os.path.join(d, "person.csv")):
        ts = int(p["date_time"])
        people.add((int(p["id"]), p["name"], ts - ts % WINDOW_MS))
    sellers = set()
    for a in rows(os.path.join(d, "auction.csv")):
        ts = int(a["date_time"])
        sellers.add((int(a["seller"]), ts - ts % WINDOW_MS))
    out = [(i, n, w) for (i, n, w) in people if (i, w) in sellers]
    return ["id", "name", "window_start_ms"], out


QUERIES = {"q2": q2, "q5": q5, "q7": q7, "q8": q8}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--query", required=True, choices=sorted(QUERIES))
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    args = ap.parse_args()
    header, out = QUERIES[args.query](args.input)
    with open(args.output, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(out)
    print(f"{args.query}: {len(out)} rows")


if __name__ == "__main__":
    main()
