#!/usr/bin/env python3
"""Stage `prepare`: generate a synthetic binary-classification dataset.

Each row has an id, an event_date, a split (train or test, fixed by the
seed), features f1..f5 drawn from a standard normal distribution and a
label drawn from a logistic model of the features (f4 is pure noise), so
a logistic regression can learn it but not perfectly.

Writes dataset.csv into the stage's artifact directory and reports
    ::artifact dataset=file:///.../dataset.csv
    ::metric rows=N train_rows=N test_rows=N positive_rate=R
"""

import argparse
import csv
import datetime
import random
import sys

import stagelib

TRUE_WEIGHTS = [1.6, -1.1, 0.8, 0.0, 0.5]
TRUE_BIAS = -0.3


def generate(seed, rows, test_fraction, end_date, days=180):
    """Yield row dicts; the same seed always gives the same rows."""
    rng = random.Random(seed)
    end = datetime.date.fromisoformat(end_date)
    for i in range(rows):
        x = [rng.gauss(0.0, 1.0) for _ in TRUE_WEIGHTS]
        z = TRUE_BIAS + sum(w * v for w, v in zip(TRUE_WEIGHTS, x))
        label = 1 if rng.random() < stagelib.sigmoid(z) else 0
        split = "test" if rng.random() < test_fraction else "train"
        day = end - datetime.timedelta(days=(rows - 1 - i) * days // rows)
        row = {"id": i + 1, "event_date": day.isoformat(), "split": split}
        for k, v in enumerate(x):
            row["f%d" % (k + 1)] = "%.5f" % v
        row["label"] = label
        yield row


def columns():
    return (["id", "event_date", "split"]
            + ["f%d" % (k + 1) for k in range(len(TRUE_WEIGHTS))]
            + ["label"])


def write_csv(path, rows):
    """Write rows; return (count, train, test, positives)."""
    n = n_train = n_test = n_pos = 0
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns())
        w.writeheader()
        for row in rows:
            w.writerow(row)
            n += 1
            n_pos += row["label"]
            if row["split"] == "train":
                n_train += 1
            else:
                n_test += 1
    return n, n_train, n_test, n_pos


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--test-fraction", type=float, default=0.25)
    ap.add_argument("--end-date", default="2024-06-30",
                    help="event_date of the last row (rows span 180 days)")
    args = ap.parse_args(argv)
    if args.rows < 10:
        ap.error("--rows must be at least 10")
    if not 0.0 < args.test_fraction < 1.0:
        ap.error("--test-fraction must be between 0 and 1")

    out = stagelib.artifact_dir("prepare") / "dataset.csv"
    n, n_train, n_test, n_pos = write_csv(
        out, generate(args.seed, args.rows, args.test_fraction,
                      args.end_date))
    stagelib.log("prepare: wrote %d rows (seed %d) to %s"
                 % (n, args.seed, out))
    stagelib.artifact("dataset", str(out))
    stagelib.metric(rows=n, train_rows=n_train, test_rows=n_test,
                    positive_rate=n_pos / n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
