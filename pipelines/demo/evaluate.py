#!/usr/bin/env python3
"""Stage `evaluate`: score the model on the held-out split.

Reads model.json and the dataset (file:// URIs from earlier stages),
predicts the test split and reports
    ::metric auc=A accuracy=A logloss=L test_rows=N
The pipeline's gates (auc >= 0.75, auc no worse than production) decide
whether the run goes on; this script only measures.
"""

import argparse
import json
import sys

import stagelib


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model URI (file://)")
    ap.add_argument("--data", required=True, help="dataset URI (file://)")
    args = ap.parse_args(argv)

    with stagelib.open_input(args.model) as fh:
        model = json.load(fh)
    if model.get("kind") != "logistic_regression":
        raise SystemExit("evaluate: %s is not a logistic_regression model"
                         % args.model)
    features, rows = stagelib.read_dataset(args.data, split="test")
    if features != model["features"]:
        raise SystemExit("evaluate: dataset features %s differ from the "
                         "model's %s" % (features, model["features"]))
    if not rows:
        raise SystemExit("evaluate: the dataset has no test rows")

    labels = [y for _, y in rows]
    probs = [stagelib.predict(model, x) for x, _ in rows]
    correct = sum(1 for p, y in zip(probs, labels) if (p >= 0.5) == (y == 1))
    auc = stagelib.auc(probs, labels)
    stagelib.log("evaluate: %d test rows, AUC %.4f" % (len(rows), auc))
    stagelib.metric(auc=auc, accuracy=correct / len(rows),
                    logloss=stagelib.log_loss(probs, labels),
                    test_rows=len(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
