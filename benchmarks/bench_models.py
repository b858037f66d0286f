"""Training and inference speed of each registered model on this machine's CPU.

For every model: images per second of one training step (forward, backward, AdamW step;
batch 16 by default) and of scoring (eval mode, no gradient; batch 64 by default), on random
crops at the model's input size, after a warm-up step. Each figure is also given as a ratio
to custom-cnn, the founding paper's network, measured in the same process.

    python benchmarks/bench_models.py [--models a,b,...] [--threads 2] [--json out.json]

The default list is the models that train on a 2-core CPU in reasonable time; pass
``--models all`` for every registered one.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from forensics.models import build_model, get_model_spec, list_models

DEFAULT_MODELS = ("custom-cnn", "residual-mlp", "efficientnet-lite0", "mobile-cnn", "dense-cnn", "simple-cnn",
                  "efficientnet-b0", "densenet121", "resnet50")


def images_per_second(model: torch.nn.Module, size: int, channels: int, batch: int, train: bool,
                      seconds: float = 3.0) -> float:
    """Mean images/s over at least ``seconds`` of repeated steps, after one warm-up step."""
    x = torch.rand(batch, channels, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,)).float()
    optimiser = torch.optim.AdamW(model.parameters(), 1e-4) if train else None
    model.train(train)

    def step() -> None:
        if train:
            loss = F.binary_cross_entropy_with_logits(model(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        else:
            with torch.inference_mode():
                model(x)

    step()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done < 2:
        step()
        done += 1
    return done * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--infer-batch", type=int, default=64)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    names = list_models() if args.models == "all" else args.models.split(",")
    rows = []
    for name in names:
        spec = get_model_spec(name)
        model = build_model(name).to(memory_format=torch.channels_last)
        channels = 1 if spec.grayscale else 3
        train = images_per_second(model, spec.input_size, channels, args.train_batch, train=True)
        infer = images_per_second(model, spec.input_size, channels, args.infer_batch, train=False)
        rows.append({"model": name, "input": spec.input_size, "train_img_s": round(train, 1),
                     "infer_img_s": round(infer, 1)})
        print(f"{name:>20}  {spec.input_size:>4}px  train {train:7.1f} img/s  inference {infer:7.1f} img/s", flush=True)
    base = next((r for r in rows if r["model"] == "custom-cnn"), None)
    if base:
        for r in rows:
            r["train_vs_custom_cnn"] = round(r["train_img_s"] / base["train_img_s"], 2)
            r["infer_vs_custom_cnn"] = round(r["infer_img_s"] / base["infer_img_s"], 2)
        print("ratios to custom-cnn (train, inference):",
              ", ".join(f"{r['model']} {r['train_vs_custom_cnn']}/{r['infer_vs_custom_cnn']}" for r in rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "train_batch": args.train_batch, "infer_batch": args.infer_batch,
                       "models": rows}, f, indent=2)


if __name__ == "__main__":
    main()
