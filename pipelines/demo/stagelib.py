"""Helpers shared by the demo stage scripts (Python standard library only).

The Sluice stage protocol, as these scripts use it:
  - context comes from the environment: SLUICE_RUN_ID, SLUICE_STAGE,
    SLUICE_ATTEMPT, SLUICE_COMMIT, SLUICE_PIPELINE, SLUICE_PARAM_<NAME>,
    and for canary steps SLUICE_CANARY_TARGET, SLUICE_CANARY_WEIGHT,
    SLUICE_CANARY_STEP, SLUICE_PREVIOUS_MODEL;
  - files to keep go to SLUICE_ARTIFACT_DIR (a directory that outlives the
    attempt), or ./artifacts/<run>/<stage> when the executor sets none;
  - results are lines on stdout: "::metric NAME=NUMBER ..." and
    "::artifact NAME=URI [name=MODEL_NAME]".
"""

import csv
import math
import os
import pathlib
import sys
import urllib.parse
import urllib.request


def env(name, default=""):
    """A SLUICE_* variable, or default when unset or empty."""
    value = os.environ.get(name, "")
    return value if value else default


def run_id():
    return env("SLUICE_RUN_ID", "local")


def stage_name(default):
    return env("SLUICE_STAGE", default)


def artifact_dir(stage_default):
    """The directory for this stage's files, created if missing."""
    d = env("SLUICE_ARTIFACT_DIR")
    if d:
        path = pathlib.Path(d)
    else:
        path = pathlib.Path("artifacts") / run_id() / stage_name(stage_default)
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def log(msg):
    """Human-readable progress; stderr keeps stdout for protocol lines."""
    print(msg, file=sys.stderr, flush=True)


def fmt_number(value):
    if isinstance(value, bool):
        raise ValueError("metric value must be a number, not bool")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError("metric value must be finite")
    text = "%.6f" % value
    text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def metric(**values):
    """Print one ::metric line with every NAME=NUMBER given."""
    parts = ["%s=%s" % (k, fmt_number(v)) for k, v in values.items()]
    print("::metric " + " ".join(parts), flush=True)


def artifact(name, path_or_uri, model_name=None):
    """Print one ::artifact line; a local path becomes a file:// URI."""
    uri = path_or_uri
    if "://" not in uri:
        uri = pathlib.Path(uri).resolve().as_uri()
    line = "::artifact %s=%s" % (name, uri)
    if model_name:
        line += " name=%s" % model_name
    print(line, flush=True)


def uri_to_path(uri):
    """file:///abs/path (or a plain path) -> pathlib.Path."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "":
        return pathlib.Path(uri)
    if parsed.scheme != "file":
        raise SystemExit("unsupported URI scheme %r in %s (want file://)"
                         % (parsed.scheme, uri))
    if parsed.netloc not in ("", "localhost"):
        raise SystemExit("file URI with a remote host: %s" % uri)
    return pathlib.Path(urllib.request.url2pathname(parsed.path))


def open_input(uri, mode="r"):
    """Open a file:// URI (or path) for reading; a clear error if missing."""
    path = uri_to_path(uri)
    try:
        return open(path, mode, newline="" if "b" not in mode else None)
    except OSError as e:
        raise SystemExit("cannot read %s: %s" % (uri, e.strerror or e))


# Dataset layout written by prepare.py: id, event_date, split, f1..fN, label.
def is_feature(column):
    return len(column) > 1 and column[0] == "f" and column[1:].isdigit()


def read_dataset(uri, split=None):
    """Rows of the CSV as (features, rows): rows are (x list, label)."""
    path = uri
    with open_input(uri) as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            raise SystemExit("%s: empty dataset" % path)
        features = [c for c in reader.fieldnames if is_feature(c)]
        if not features or "label" not in reader.fieldnames:
            raise SystemExit("%s: want columns f1..fN and label" % path)
        rows = []
        for rec in reader:
            if split is not None and rec.get("split") != split:
                continue
            try:
                rows.append(([float(rec[c]) for c in features],
                             int(rec["label"])))
            except (TypeError, ValueError):
                raise SystemExit("%s:%d: bad row" % (path, reader.line_num))
    return features, rows


def sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def predict(model, x):
    z = model["bias"]
    for w, v in zip(model["weights"], x):
        z += w * v
    return sigmoid(z)


def auc(scores, labels):
    """Area under the ROC curve (Mann-Whitney U, ties get average ranks)."""
    pairs = sorted(zip(scores, labels))
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise SystemExit("AUC needs both classes (pos=%d neg=%d)"
                         % (n_pos, n_neg))
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j + 1 < len(pairs) and pairs[j + 1][0] == pairs[i][0]:
            j += 1
        avg_rank = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            if pairs[k][1] == 1:
                rank_sum += avg_rank
        i = j + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def log_loss(probs, labels):
    eps = 1e-12
    total = 0.0
    for p, y in zip(probs, labels):
        p = min(max(p, eps), 1.0 - eps)
        total -= y * math.log(p) + (1 - y) * math.log(1.0 - p)
    return total / len(labels)
