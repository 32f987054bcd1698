#!/usr/bin/env python3
"""Runs ONE query of Rill's benchmark workloads on Apache Flink (PyFlink Table API, SQL).

Meant to run inside the venv made by ``install_flink.sh``::

    flink-venv/bin/python flink_run.py --query sensors --input sensors.csv --output out.csv
    flink-venv/bin/python flink_run.py --query q5 --input NEXMARK_DIR --output out.csv

Inputs are the CSV files written by ``rill-bench gen`` (a header line, then rows; Nexmark: a
directory holding ``person.csv``, ``auction.csv`` and ``bid.csv``). Flink 2.3's CSV format cannot
skip a header line, so the header is checked and the rows are copied, without it, into a scratch
directory first; that copy is timed apart (``prep_s``) and is not part of Flink's figures.

The job runs in **streaming** mode over the bounded file sources, with event-time watermarks
(``ts - max_out_of_orderness``; Nexmark: ``dateTime - 4 s``). At the end of a bounded input the
sources emit the final watermark, which fires every remaining window, so streaming mode yields the
final results; every query is written so that its result is append-only (no retractions), which
lets a filesystem CSV sink take it. The sink's part files are then concatenated, behind the header
Rill writes, into ``--output``.

Prints one JSON line on stdout: query, parallelism, rows in, rows out, ``prep_s`` (header strip,
excluded), ``job_s`` (from creating the table environment to the end of the job), ``output_s``
(concatenating/formatting the result) and ``wall_s`` (the whole process less ``prep_s``).
Any failure raises, and the process exits non-zero.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

T_START = time.monotonic()

# Columns of the files written by `rill-bench gen`.
SENSORS_COLUMNS = ["ts_ms", "sensor_id", "room", "temp"]
PERSON_COLUMNS = ["id", "name", "email_address", "credit_card", "city", "state", "date_time", "extra"]
AUCTION_COLUMNS = [
    "id", "item_name", "description", "initial_bid", "reserve", "date_time", "expires", "seller",
    "category", "extra",
]
BID_COLUMNS = ["auction", "bidder", "price", "channel", "url", "date_time", "extra"]

# Output columns, exactly as Rill writes them.
OUTPUT_COLUMNS = {
    "sensors": ["room", "window_start_ms", "window_end_ms", "count", "avg_temp", "min_temp", "max_temp"],
    "q0": ["auction", "bidder", "price", "date_time", "extra"],
    "q1": ["auction", "bidder", "price", "date_time", "extra"],
    "q2": ["auction", "price"],
    "q5": ["auction", "num", "window_start_ms", "window_end_ms"],
    "q7": ["auction", "price", "bidder", "date_time", "extra"],
    "q8": ["id", "name", "window_start_ms"],
}

# Which Nexmark tables each query reads.
NEXMARK_TABLES = {
    "q0": ["bid"], "q1": ["bid"], "q2": ["bid"], "q5": ["bid"], "q7": ["bid"],
    "q8": ["person", "auction"],
}

NEXMARK_WATERMARK_MS = 4000
NEXMARK_WINDOW_MS = 10_000
Q5_SLIDE_MS = 2000


def interval(ms):
    """A Flink SQL interval literal of `ms` milliseconds (DAY TO SECOND, millisecond precision)."""
    if ms < 0:
        raise ValueError(f"negative interval {ms} ms")
    s, milli = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    d, h = divmod(h, 24)
    if d > 99:
        raise ValueError(f"interval of {ms} ms is too long")
    return f"INTERVAL '{d} {h:02d}:{m:02d}:{s:02d}.{milli:03d}' DAY TO SECOND(3)"


def epoch_ms(col):
    """SQL for the epoch milliseconds of a TIMESTAMP(3) column in UTC (valid up to 2038:
    TIMESTAMPDIFF returns INT, and its MILLISECOND unit overflows for today's dates)."""
    return (f"(CAST(TIMESTAMPDIFF(SECOND, TIMESTAMP '1970-01-01 00:00:00', {col}) AS BIGINT) * 1000"
            f" + EXTRACT(MILLISECOND FROM {col}))")


def strip_header(src, dst, columns):
    """Checks that `src` starts with the header `columns` and copies its rows to `dst`.
    Returns the number of rows (newline-terminated lines after the header)."""
    with open(src, "rb") as f:
        header = f.readline().rstrip(b"\r\n").decode()
        if header.split(",") != columns:
            raise SystemExit(f"flink_run: {src}: header {header!r} is not {','.join(columns)!r}")
        rows = 0
        with open(dst, "wb") as out:
            while True:
                chunk = f.read(1 << 22)
                if not chunk:
                    break
                rows += chunk.count(b"\n")
                out.write(chunk)
                last = chunk
        if rows and not last.endswith(b"\n"):
            rows += 1
    return rows


def source_ddl(name, path, columns_sql, time_col, watermark_ms):
    return f"""
CREATE TABLE {name} (
  {columns_sql},
  rt AS TO_TIMESTAMP_LTZ({time_col}, 3),
  WATERMARK FOR rt AS rt - {interval(watermark_ms)}
) WITH (
  'connector' = 'filesystem',
  'path' = 'file://{path}',
  'format' = 'csv',
  'csv.ignore-parse-errors' = 'false'
)"""


def sink_ddl(path, columns_sql):
    return f"""
CREATE TABLE result_sink (
  {columns_sql}
) WITH (
  'connector' = 'filesystem',
  'path' = 'file://{path}',
  'format' = 'csv',
  'csv.disable-quote-character' = 'true',
  'csv.write-bigdecimal-in-scientific-notation' = 'false'
)"""


SQL_COLUMNS = {
    "sensors": "ts_ms BIGINT, sensor_id BIGINT, room BIGINT, temp DECIMAL(10, 1)",
    "person": ("id BIGINT, name STRING, email_address STRING, credit_card STRING, city STRING, "
               "state STRING, date_time BIGINT, extra STRING"),
    "auction": ("id BIGINT, item_name STRING, description STRING, initial_bid BIGINT, reserve BIGINT, "
                "date_time BIGINT, expires BIGINT, seller BIGINT, category BIGINT, extra STRING"),
    "bid": ("auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING, "
            "date_time BIGINT, extra STRING"),
}


def query_sql(query, args):
    """(sink columns, INSERT statement) of `query`."""
    if query == "sensors":
        w = interval(args.window_ms)
        # Integer tenths of a degree: sums are exact; Python formats the average as Rill does.
        return (
            "room BIGINT, window_start_ms BIGINT, window_end_ms BIGINT, cnt BIGINT, "
            "sum_dc BIGINT, min_dc BIGINT, max_dc BIGINT",
            f"""
INSERT INTO result_sink
SELECT room, {epoch_ms('window_start')}, {epoch_ms('window_end')}, COUNT(*),
       SUM(CAST(temp * 10 AS BIGINT)), MIN(CAST(temp * 10 AS BIGINT)), MAX(CAST(temp * 10 AS BIGINT))
FROM TABLE(TUMBLE(TABLE sensors, DESCRIPTOR(rt), {w}))
GROUP BY room, window_start, window_end""",
        )
    if query == "q0":
        return ("auction BIGINT, bidder BIGINT, price BIGINT, date_time BIGINT, extra STRING",
                "INSERT INTO result_sink SELECT auction, bidder, price, date_time, extra FROM bid")
    if query == "q1":
        # 0.908 * price is a DECIMAL(23,3); Flink's CSV writer strips trailing zeros of
        # decimals ("3859"), so the value is cast to its plain string ("3859.000"), as Rill writes it.
        return ("auction BIGINT, bidder BIGINT, price STRING, date_time BIGINT, extra STRING",
                "INSERT INTO result_sink SELECT auction, bidder, "
                "CAST(CAST(0.908 * price AS DECIMAL(23, 3)) AS STRING), date_time, extra FROM bid")
    if query == "q2":
        return ("auction BIGINT, price BIGINT",
                "INSERT INTO result_sink SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0")
    if query == "q5":
        size, slide = interval(NEXMARK_WINDOW_MS), interval(Q5_SLIDE_MS)
        # AuctionBids: per auction and hop window, the count. MaxBids: per hop window, the
        # largest count, as a cascaded window aggregate (a tumble of the slide over the hop
        # windows' window_time = end - 1 ms, so each tumble holds exactly one hop window's
        # rows) instead of Nexmark's regular GROUP BY, which would make the result updating.
        # The two are joined on the window's end time (an interval join of zero width on the
        # rowtimes), keeping every auction whose count is the window's maximum (ties kept).
        return (
            "auction BIGINT, num BIGINT, window_start_ms BIGINT, window_end_ms BIGINT",
            f"""
INSERT INTO result_sink
WITH auction_bids AS (
  SELECT auction, COUNT(*) AS num, window_start AS hop_start, window_end AS hop_end,
         window_time AS hop_time
  FROM TABLE(HOP(TABLE bid, DESCRIPTOR(rt), {slide}, {size}))
  GROUP BY auction, window_start, window_end, window_time
), max_bids AS (
  SELECT MAX(num) AS maxn, window_time
  FROM TABLE(TUMBLE(TABLE auction_bids, DESCRIPTOR(hop_time), {slide}))
  GROUP BY window_start, window_end, window_time
)
SELECT A.auction, A.num, {epoch_ms('A.hop_start')}, {epoch_ms('A.hop_end')}
FROM auction_bids A JOIN max_bids M
  ON A.hop_time BETWEEN M.window_time AND M.window_time
 AND A.num >= M.maxn""",
        )
    if query == "q7":
        size = interval(NEXMARK_WINDOW_MS)
        # Per tumbling window [start, end), the bids whose price is the window's maximum: a window
        # join of the windowed bids with the window's maximum on (window, price).
        return (
            "auction BIGINT, price BIGINT, bidder BIGINT, date_time BIGINT, extra STRING",
            f"""
INSERT INTO result_sink
SELECT B.auction, B.price, B.bidder, B.date_time, B.extra
FROM (
  SELECT * FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(rt), {size}))
) B JOIN (
  SELECT MAX(price) AS maxprice, window_start, window_end
  FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(rt), {size}))
  GROUP BY window_start, window_end
) M
  ON B.window_start = M.window_start AND B.window_end = M.window_end AND B.price = M.maxprice""",
        )
    if query == "q8":
        size = interval(NEXMARK_WINDOW_MS)
        # Nexmark q8: persons who opened an auction in the tumbling window in which they
        # registered; a window join of the two window aggregates.
        return (
            "id BIGINT, name STRING, window_start_ms BIGINT",
            f"""
INSERT INTO result_sink
SELECT P.id, P.name, {epoch_ms('P.window_start')}
FROM (
  SELECT id, name, window_start, window_end
  FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(rt), {size}))
  GROUP BY id, name, window_start, window_end
) P JOIN (
  SELECT seller, window_start, window_end
  FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(rt), {size}))
  GROUP BY seller, window_start, window_end
) A
  ON P.id = A.seller AND P.window_start = A.window_start AND P.window_end = A.window_end""",
        )
    raise SystemExit(f"flink_run: unknown query {query!r}")


def fixed(value, scale):
    """`value / 10**scale` written with exactly `scale` decimals, as Rill's `write_fixed`."""
    sign = "-" if value < 0 else ""
    q, r = divmod(abs(value), 10 ** scale)
    return f"{sign}{q}.{r:0{scale}d}" if scale else f"{sign}{q}"


def average_milli(sum_dc, count):
    """sum_dc / count in thousandths, rounded half away from zero (Rill's `average_milli`)."""
    n, c = sum_dc * 100, max(count, 1)
    q, r = divmod(abs(n), c)
    if 2 * r >= c:
        q += 1
    return -q if n < 0 else q


def part_files(directory):
    """The sink's finished part files (hidden in-progress files excluded)."""
    files = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not d.startswith("_")]
        files += [os.path.join(root, n) for n in names if not n.startswith(".") and not n.startswith("_")]
    return sorted(files)


def write_output(query, parts, output):
    """Writes Rill's header and the rows of `parts` to `output`; returns the row count."""
    rows = 0
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "wb") as out:
        out.write((",".join(OUTPUT_COLUMNS[query]) + "\n").encode())
        for p in parts:
            with open(p, "rb") as f:
                if query == "sensors":
                    for line in f:
                        room, start, end, cnt, sum_dc, min_dc, max_dc = (int(x) for x in line.split(b","))
                        out.write(
                            f"{room},{start},{end},{cnt},{fixed(average_milli(sum_dc, cnt), 3)},"
                            f"{fixed(min_dc, 1)},{fixed(max_dc, 1)}\n".encode())
                        rows += 1
                else:
                    last = b"\n"
                    while True:
                        chunk = f.read(1 << 22)
                        if not chunk:
                            break
                        rows += chunk.count(b"\n")
                        out.write(chunk)
                        last = chunk
                    if not last.endswith(b"\n"):
                        out.write(b"\n")
                        rows += 1
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--query", required=True, choices=sorted(OUTPUT_COLUMNS))
    ap.add_argument("--input", required=True,
                    help="sensors: the CSV file; Nexmark: the directory of `rill-bench gen nexmark`")
    ap.add_argument("--output", required=True, help="result CSV (Rill's header and columns)")
    ap.add_argument("--parallelism", type=int, default=1)
    ap.add_argument("--window-ms", type=int, default=10_000, help="sensors: tumbling window (ms)")
    ap.add_argument("--max-out-of-orderness-ms", type=int, default=None,
                    help="watermark delay (ms); default 1000 for sensors, 4000 for Nexmark")
    ap.add_argument("--allowed-lateness-ms", type=int, default=0,
                    help="sensors: only 0 (Flink SQL window TVFs have no allowed lateness)")
    ap.add_argument("--work-dir", default=None, help="scratch directory (default: a new temp dir)")
    ap.add_argument("--keep-work-dir", action="store_true")
    ap.add_argument("--json", default=None, help="also write the JSON line to this file")
    args = ap.parse_args()

    if args.parallelism < 1:
        raise SystemExit("flink_run: --parallelism must be >= 1")
    if args.allowed_lateness_ms != 0:
        raise SystemExit("flink_run: --allowed-lateness-ms other than 0 is not supported by Flink SQL window TVFs")
    if args.window_ms <= 0:
        raise SystemExit("flink_run: --window-ms must be positive")
    query = args.query
    nexmark = query != "sensors"
    delay = args.max_out_of_orderness_ms
    if delay is None:
        delay = NEXMARK_WATERMARK_MS if nexmark else 1000

    work = args.work_dir or tempfile.mkdtemp(prefix="flink-run-")
    os.makedirs(work, exist_ok=True)
    in_dir = os.path.join(work, "input")
    out_dir = os.path.join(work, "sink")
    for d in (in_dir, out_dir):
        shutil.rmtree(d, ignore_errors=True)

    # Header-less copies of the inputs (timed apart, excluded from Flink's figures).
    t0 = time.monotonic()
    tables = NEXMARK_TABLES[query] if nexmark else ["sensors"]
    columns = {"sensors": SENSORS_COLUMNS, "person": PERSON_COLUMNS, "auction": AUCTION_COLUMNS,
               "bid": BID_COLUMNS}
    rows_in = 0
    ddls = []
    for name in tables:
        if nexmark:
            if not os.path.isdir(args.input):
                raise SystemExit(f"flink_run: {args.input} is not a directory of `rill-bench gen nexmark`")
            src = os.path.join(args.input, f"{name}.csv")
        else:
            src = args.input
        table_dir = os.path.join(in_dir, name)
        os.makedirs(table_dir)
        rows_in += strip_header(src, os.path.join(table_dir, f"{name}.csv"), columns[name])
        time_col = "ts_ms" if name == "sensors" else "date_time"
        ddls.append(source_ddl(name, os.path.abspath(table_dir), SQL_COLUMNS[name], time_col, delay))
    prep_s = time.monotonic() - t0

    # The Flink job.
    t1 = time.monotonic()
    from pyflink.table import EnvironmentSettings, TableEnvironment  # noqa: E402 (timed)
    import importlib.metadata

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    conf.set("table.local-time-zone", "UTC")
    conf.set("parallelism.default", str(args.parallelism))
    conf.set("table.exec.resource.default-parallelism", str(args.parallelism))
    # The tuning a throughput-minded Flink user sets first: operators chained in one task pass
    # records without copying them. Measured on the sensors CSV (10 M rows, parallelism 1):
    # job 30.1-31.0 s without, 21.4-22.1 s with; same rows. Mini-batch aggregation on top gave
    # nothing more (22.6 s) and is not set.
    conf.set("pipeline.object-reuse", "true")
    for ddl in ddls:
        env.execute_sql(ddl)
    sink_columns, insert = query_sql(query, args)
    env.execute_sql(sink_ddl(os.path.abspath(out_dir), sink_columns))
    result = env.execute_sql(insert)
    result.wait()
    job_s = time.monotonic() - t1

    t2 = time.monotonic()
    parts = part_files(out_dir)
    rows_out = write_output(query, parts, args.output)
    output_s = time.monotonic() - t2

    if not args.keep_work_dir:
        shutil.rmtree(work, ignore_errors=True)
    wall_s = time.monotonic() - T_START - prep_s
    report = {
        "engine": "flink",
        "flink_version": importlib.metadata.version("apache-flink"),
        "mode": "streaming",
        "query": query,
        "parallelism": args.parallelism,
        "rows_in": rows_in,
        "rows_out": rows_out,
        "prep_s": round(prep_s, 6),
        "job_s": round(job_s, 6),
        "output_s": round(output_s, 6),
        "wall_s": round(wall_s, 6),
        "events_per_s": round(rows_in / wall_s, 1) if wall_s > 0 else None,
    }
    line = json.dumps(report)
    print(line, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:  # any Flink/Java error: loud, non-zero
        print(f"flink_run: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
