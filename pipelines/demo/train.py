#!/usr/bin/env python3
"""Stage `train`: logistic regression by batch gradient descent.

Reads the train split of the dataset (a file:// URI from the prepare
stage), fits weights and bias on the mean log-loss, writes model.json into
the stage's artifact directory and reports
    ::metric loss=L train_auc=A epochs=E
    ::artifact model=file:///.../model.json [name=MODEL_NAME]
An artifact named `model` registers a new model version in Sluice.
"""

import argparse
import json
import sys

import stagelib


def fit(rows, n_features, epochs, lr):
    """Batch gradient descent on the mean log-loss; returns (w, b)."""
    w = [0.0] * n_features
    b = 0.0
    n = float(len(rows))
    for _ in range(epochs):
        gw = [0.0] * n_features
        gb = 0.0
        for x, y in rows:
            z = b
            for wi, xi in zip(w, x):
                z += wi * xi
            err = stagelib.sigmoid(z) - y
            gb += err
            for k in range(n_features):
                gw[k] += err * x[k]
        b -= lr * gb / n
        for k in range(n_features):
            w[k] -= lr * gw[k] / n
    return w, b


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="dataset URI (file://)")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--model-name", default="",
                    help="model name to register (default: pipeline name)")
    args = ap.parse_args(argv)
    if args.epochs < 1:
        ap.error("--epochs must be at least 1")
    if not args.lr > 0.0:
        ap.error("--lr must be positive")

    features, rows = stagelib.read_dataset(args.data, split="train")
    if len(rows) < 2:
        raise SystemExit("train: %s has no train rows" % args.data)
    stagelib.log("train: %d rows, %d features, %d epochs, lr %g"
                 % (len(rows), len(features), args.epochs, args.lr))

    w, b = fit(rows, len(features), args.epochs, args.lr)
    model = {
        "kind": "logistic_regression",
        "features": features,
        "weights": w,
        "bias": b,
        "epochs": args.epochs,
        "lr": args.lr,
        "dataset": args.data,
        "run": stagelib.run_id(),
        "commit": stagelib.env("SLUICE_COMMIT"),
    }
    labels = [y for _, y in rows]
    probs = [stagelib.predict(model, x) for x, _ in rows]
    loss = stagelib.log_loss(probs, labels)
    train_auc = stagelib.auc(probs, labels)
    model["train_loss"] = loss

    out = stagelib.artifact_dir("train") / "model.json"
    with open(out, "w") as fh:
        json.dump(model, fh, indent=2)
        fh.write("\n")
    stagelib.log("train: wrote %s" % out)
    stagelib.metric(loss=loss, train_auc=train_auc, epochs=args.epochs)
    stagelib.artifact("model", str(out), args.model_name or None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
