#!/usr/bin/env python3
"""Stage `evaluate` of resnet-train: top-1/top-5 accuracy and latency of
the TorchScript model on the validation images.

--model is the model artifact URI (pvc://claim/path/model.pt); --mount
claim=/path says where that claim is mounted in this pod.  Reports
    ::metric top1=A top5=A p95_latency_ms=L val_images=N
The pipeline's gates judge the numbers; this script only measures.
"""

import argparse
import json
import os
import sys
import time
import urllib.parse


def resolve(uri, mounts):
    """pvc://claim/rest -> <mount of claim>/rest; file:// and paths as is."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "pvc":
        if parsed.netloc not in mounts:
            raise SystemExit("evaluate: claim %r of %s is not mounted "
                             "(--mount %s=/path)"
                             % (parsed.netloc, uri, parsed.netloc))
        return os.path.join(mounts[parsed.netloc], parsed.path.lstrip("/"))
    if parsed.scheme == "file":
        return urllib.parse.unquote(parsed.path)
    if parsed.scheme == "":
        return uri
    raise SystemExit("evaluate: unsupported model URI %s" % uri)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="image folder root")
    ap.add_argument("--mount", action="append", default=[],
                    metavar="CLAIM=PATH")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args(argv)
    mounts = {}
    for m in args.mount:
        claim, sep, path = m.partition("=")
        if not sep or not claim or not path:
            ap.error("--mount wants CLAIM=PATH, got %r" % m)
        mounts[claim] = path

    try:
        import torch
        from torchvision import datasets, transforms
    except ImportError as e:
        raise SystemExit("evaluate: needs PyTorch and torchvision (%s)" % e)
    if not torch.cuda.is_available():
        raise SystemExit("evaluate: no GPU visible")
    device = torch.device("cuda")

    path = resolve(args.model, mounts)
    model = torch.jit.load(path, map_location=device).eval()
    with open(os.path.join(os.path.dirname(path), "classes.json")) as fh:
        classes = json.load(fh)
    tf = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    val_set = datasets.ImageFolder(os.path.join(args.data, "val"), tf)
    if val_set.classes != classes:
        raise SystemExit("evaluate: validation classes differ from the "
                         "model's classes.json")
    loader = torch.utils.data.DataLoader(val_set, batch_size=args.batch_size,
                                         num_workers=4, pin_memory=True)

    top1 = top5 = count = 0
    per_image_ms = []
    with torch.no_grad():
        for images, labels in loader:
            images = images.to(device, non_blocking=True)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            logits = model(images)
            torch.cuda.synchronize()
            per_image_ms.append((time.perf_counter() - t0) * 1000.0
                                / images.size(0))
            k = min(5, logits.size(1))
            best = logits.topk(k, dim=1).indices.cpu()
            top1 += (best[:, 0] == labels).sum().item()
            top5 += (best == labels.unsqueeze(1)).any(dim=1).sum().item()
            count += labels.numel()
    if count == 0:
        raise SystemExit("evaluate: no validation images under %s/val"
                         % args.data)
    per_image_ms.sort()
    p95 = per_image_ms[int(0.95 * (len(per_image_ms) - 1))]
    print("::metric top1=%.6f top5=%.6f p95_latency_ms=%.3f val_images=%d"
          % (top1 / count, top5 / count, p95, count), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
