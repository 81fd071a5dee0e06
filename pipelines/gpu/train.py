#!/usr/bin/env python3
"""Stage `train` of resnet-train: fine-tune ResNet-50 on an image folder.

Runs in a PyTorch image (nvcr.io/nvidia/pytorch) on one GPU or MIG slice.
The data volume holds DATA/train/<class>/*.jpg and DATA/val/<class>/*.jpg;
the models volume receives OUT/checkpoint.pt after every epoch (a retried
attempt resumes from it) and, at the end, OUT/model.pt (TorchScript) and
OUT/classes.json.  Reports
    ::metric loss=L val_top1=A epochs=N images_per_second=R
    ::artifact model=<--publish-as>/model.pt name=<--model-name>
Pretrained weights come from TORCH_HOME (pre-seed it on the models volume:
the cluster's GPU nodes have no Internet access).
"""

import argparse
import json
import os
import sys
import time


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="image folder root")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--publish-as", required=True,
                    help="URI of --out as other pods see it (pvc://claim/dir)")
    ap.add_argument("--model-name", default="")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args(argv)

    try:
        import torch
        from torch import nn
        from torchvision import datasets, models, transforms
    except ImportError as e:
        raise SystemExit("train: needs PyTorch and torchvision (%s); run it "
                         "in nvcr.io/nvidia/pytorch" % e)
    if not torch.cuda.is_available():
        raise SystemExit("train: no GPU visible (CUDA_VISIBLE_DEVICES=%r); "
                         "is resources.gpu set and the node's device plugin "
                         "up?" % os.environ.get("CUDA_VISIBLE_DEVICES"))
    device = torch.device("cuda")
    log("train: %s, %d device(s), run %s, attempt %s"
        % (torch.cuda.get_device_name(0), torch.cuda.device_count(),
           os.environ.get("SLUICE_RUN_ID", "-"),
           os.environ.get("SLUICE_ATTEMPT", "-")))

    norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    train_tf = transforms.Compose([
        transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), norm])
    val_tf = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224),
        transforms.ToTensor(), norm])
    train_set = datasets.ImageFolder(os.path.join(args.data, "train"),
                                     train_tf)
    val_set = datasets.ImageFolder(os.path.join(args.data, "val"), val_tf)
    if train_set.classes != val_set.classes:
        raise SystemExit("train: train/ and val/ have different classes")
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=args.batch_size, shuffle=True,
        num_workers=args.workers, pin_memory=True, drop_last=True)
    val_loader = torch.utils.data.DataLoader(
        val_set, batch_size=args.batch_size, num_workers=args.workers,
        pin_memory=True)

    model = models.resnet50(weights=models.ResNet50_Weights.IMAGENET1K_V2)
    model.fc = nn.Linear(model.fc.in_features, len(train_set.classes))
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr,
                            weight_decay=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    scaler = torch.cuda.amp.GradScaler()
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "checkpoint.pt")
    start = 0
    if os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path, map_location=device)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
        scaler.load_state_dict(ckpt["scaler"])
        start = ckpt["epoch"] + 1
        log("train: resuming after epoch %d" % ckpt["epoch"])

    loss_avg, top1, ips = float("nan"), 0.0, 0.0
    for epoch in range(start, args.epochs):
        model.train()
        t0, seen, total = time.monotonic(), 0, 0.0
        for images, labels in loader:
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.float16):
                loss = loss_fn(model(images), labels)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            total += loss.item() * images.size(0)
            seen += images.size(0)
        sched.step()
        loss_avg = total / max(seen, 1)
        ips = seen / max(time.monotonic() - t0, 1e-9)

        model.eval()
        correct = count = 0
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16):
            for images, labels in val_loader:
                pred = model(images.to(device)).argmax(1).cpu()
                correct += (pred == labels).sum().item()
                count += labels.numel()
        top1 = correct / max(count, 1)
        log("train: epoch %d/%d loss %.4f val_top1 %.4f (%.0f img/s)"
            % (epoch + 1, args.epochs, loss_avg, top1, ips))
        tmp = ckpt_path + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "scaler": scaler.state_dict(), "epoch": epoch}, tmp)
        os.replace(tmp, ckpt_path)

    model.eval()
    example = torch.randn(1, 3, 224, 224, device=device)
    traced = torch.jit.trace(model, example)
    traced.save(os.path.join(args.out, "model.pt"))
    with open(os.path.join(args.out, "classes.json"), "w") as fh:
        json.dump(train_set.classes, fh)

    print("::metric loss=%.6f val_top1=%.6f epochs=%d images_per_second=%.1f"
          % (loss_avg, top1, args.epochs, ips), flush=True)
    line = "::artifact model=%s/model.pt" % args.publish_as.rstrip("/")
    if args.model_name:
        line += " name=%s" % args.model_name
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
