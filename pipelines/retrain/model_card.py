#!/usr/bin/env python3
"""Stage `model-card` of demo-retrain: record why and from what a model was
retrained, next to the model.

Writes model_card.json (machine-readable) and model_card.md (for people)
into the stage's artifact directory and reports
    ::artifact model_card=file:///.../model_card.md
The run id, commit, data source and evaluation AUC come in as arguments,
substituted by Sluice from ${run.id}, ${run.commit}, ${params.X} and
${stages.evaluate.metrics.auc}.
"""

import argparse
import datetime
import json
import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent
                       / "demo"))
import stagelib  # noqa: E402


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model URI (file://)")
    ap.add_argument("--run", required=True)
    ap.add_argument("--commit", required=True)
    ap.add_argument("--dataset", required=True,
                    help="where the data came from (the dataset_uri param)")
    ap.add_argument("--since", default="")
    ap.add_argument("--auc", type=float, required=True)
    args = ap.parse_args(argv)

    with stagelib.open_input(args.model) as fh:
        model = json.load(fh)
    card = {
        "model": args.model,
        "kind": model.get("kind"),
        "features": model.get("features"),
        "run": args.run,
        "commit": args.commit,
        "pipeline": stagelib.env("SLUICE_PIPELINE", "demo-retrain"),
        "data_source": args.dataset,
        "data_since": args.since or None,
        "epochs": model.get("epochs"),
        "lr": model.get("lr"),
        "train_loss": model.get("train_loss"),
        "eval_auc": args.auc,
        "written_at": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    outdir = stagelib.artifact_dir("model-card")
    with open(outdir / "model_card.json", "w") as fh:
        json.dump(card, fh, indent=2)
        fh.write("\n")
    md = outdir / "model_card.md"
    with open(md, "w") as fh:
        fh.write("# Model card: run %s\n\n" % args.run)
        fh.write("- Model: %s (%s)\n" % (args.model, card["kind"]))
        fh.write("- Source commit: %s\n" % args.commit)
        fh.write("- Training data: %s, rows since %s\n"
                 % (args.dataset, args.since or "the start"))
        fh.write("- Training: %s epochs, learning rate %s, loss %.4f\n"
                 % (card["epochs"], card["lr"], card["train_loss"] or 0.0))
        fh.write("- Held-out AUC: %.4f\n" % args.auc)
        fh.write("- Features: %s\n" % ", ".join(card["features"] or []))
    stagelib.log("model-card: wrote %s" % md)
    stagelib.artifact("model_card", str(md))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
