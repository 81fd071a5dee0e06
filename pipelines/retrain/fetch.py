#!/usr/bin/env python3
"""Stage `fetch` of demo-retrain: get fresh training data.

--source is where the data lives:
  file:///path/export.csv        a CSV on a shared file system or volume
  https://host/export.csv        a CSV over HTTP(S) (http:// too)
  synthetic://demo?seed=N&rows=N the demo generator (pipelines/demo/prepare.py)
The CSV needs the demo layout: id, event_date, split, f1..fN, label.
Rows with event_date before --since are dropped.  Fewer than --min-rows
rows left is an error (an empty export must not retrain the model).

Reports
    ::artifact dataset=file:///.../dataset.csv
    ::metric rows=N dropped_rows=N positive_rate=R
"""

import argparse
import csv
import datetime
import os
import pathlib
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent
                       / "demo"))
import prepare  # noqa: E402  (the demo generator)
import stagelib  # noqa: E402

MAX_DOWNLOAD = 256 * 1024 * 1024


def synthetic_rows(parsed):
    query = urllib.parse.parse_qs(parsed.query, strict_parsing=False)
    try:
        seed = int(query.get("seed", ["42"])[0])
        rows = int(query.get("rows", ["4000"])[0])
    except ValueError:
        raise SystemExit("fetch: synthetic:// wants integer seed and rows")
    if parsed.netloc != "demo":
        raise SystemExit("fetch: only synthetic://demo is known")
    if not 10 <= rows <= 1000000:
        raise SystemExit("fetch: rows must be 10..1000000")
    return prepare.generate(seed, rows, 0.25, "2024-06-30")


def download(url, dest):
    req = urllib.request.Request(url, headers={"User-Agent": "sluice-demo"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp, \
                open(dest, "wb") as out:
            total = 0
            while True:
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                total += len(chunk)
                if total > MAX_DOWNLOAD:
                    raise SystemExit("fetch: %s is larger than %d bytes"
                                     % (url, MAX_DOWNLOAD))
                out.write(chunk)
    except OSError as e:
        raise SystemExit("fetch: cannot download %s: %s" % (url, e))


def csv_rows(path):
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        names = reader.fieldnames or []
        wanted = {"event_date", "split", "label"}
        if not wanted <= set(names) or not any(map(stagelib.is_feature,
                                                    names)):
            raise SystemExit("fetch: %s lacks the columns event_date, split,"
                             " label and f1..fN" % path)
        for rec in reader:
            yield rec


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--since", default="",
                    help="keep rows with event_date on or after this day")
    ap.add_argument("--min-rows", type=int, default=100)
    args = ap.parse_args(argv)
    if args.min_rows < 1:
        ap.error("--min-rows must be at least 1")
    since = None
    if args.since:
        try:
            since = datetime.date.fromisoformat(args.since)
        except ValueError:
            ap.error("--since must be a date, YYYY-MM-DD (got %r)"
                     % args.since)

    outdir = stagelib.artifact_dir("fetch")
    parsed = urllib.parse.urlparse(args.source)
    if parsed.scheme == "synthetic":
        source = synthetic_rows(parsed)
    elif parsed.scheme in ("http", "https"):
        raw = outdir / "download.csv"
        download(args.source, raw)
        source = csv_rows(raw)
    elif parsed.scheme == "file":
        source = csv_rows(stagelib.uri_to_path(args.source))
    else:
        raise SystemExit("fetch: unsupported source %r (file://, https://, "
                         "synthetic://demo)" % args.source)

    stagelib.log("fetch: run %s reading %s"
                 % (stagelib.run_id(), args.source))
    out = outdir / "dataset.csv"
    tmp = outdir / "dataset.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        kept, dropped, positives = copy_since(source, since, fh)
    if kept < args.min_rows:
        tmp.unlink()
        raise SystemExit("fetch: %d rows since %s, fewer than --min-rows %d"
                         % (kept, args.since or "the start", args.min_rows))
    os.replace(tmp, out)
    stagelib.log("fetch: kept %d rows, dropped %d before %s"
                 % (kept, dropped, args.since or "-"))
    stagelib.artifact("dataset", str(out))
    stagelib.metric(rows=kept, dropped_rows=dropped,
                    positive_rate=positives / kept if kept else 0.0)
    return 0


def copy_since(source, since, fh):
    """Write the rows on or after since; return (kept, dropped, positives)."""
    kept = dropped = positives = 0
    writer = None
    for rec in source:
        try:
            day = datetime.date.fromisoformat(str(rec["event_date"]))
        except ValueError:
            raise SystemExit("fetch: bad event_date %r" % rec["event_date"])
        if since is not None and day < since:
            dropped += 1
            continue
        if writer is None:
            writer = csv.DictWriter(fh, fieldnames=list(rec.keys()))
            writer.writeheader()
        writer.writerow(rec)
        kept += 1
        try:
            positives += int(rec["label"])
        except ValueError:
            raise SystemExit("fetch: bad label %r" % rec["label"])
    return kept, dropped, positives


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
