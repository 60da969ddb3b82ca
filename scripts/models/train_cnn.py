#!/usr/bin/env python3
"""Train the small CNN on the 8x8 digits (issue 20) and export it to ONNX.

Writes tests/data/onnx/cnn.onnx and tests/data/onnx/cnn.json:

    input (N, 1, 8, 8), raw pixel counts 0..16
    Conv 3x3 (1 -> 8, pad 1) + ReLU             8x8x8
    Conv 3x3 (8 -> 16, stride 2, pad 1) + ReLU  4x4x16
    MaxPool 2x2                                 2x2x16
    Flatten (ONNX's C, H, W order)              64
    Gemm (64 -> 10)                             logits

Data and conventions as scripts/models/train_suite.py: the training split
(1,437 rows) is cut by a fixed rule, row i is a VALIDATION row when
i % 5 == 0 (288 rows), a training row otherwise (1,149); the validation rows
choose the epoch (lowest validation cross entropy, the earliest on a tie) and
nothing else; the test split (360 rows) only gives the reported accuracy.
Adam (step 1e-3), batches of 32, at most MAX_EPOCHS epochs, inputs scaled by
1/16 in training and the 1/16 folded into the first Conv's weights after, so
the exported graph takes raw pixels. Export: torch.onnx.export(dynamo=False),
opset 17, eval mode, dynamic batch; checked with onnx.checker and with
onnx.reference.ReferenceEvaluator on the test split (same accuracy as PyTorch).

With --depthwise, writes tests/data/onnx/cnn_depthwise.onnx and
cnn_depthwise.json instead (issue 20's grouped convolution; seed 2002): a
depthwise-separable block, as MobileNet's:

    input (N, 1, 8, 8), raw pixel counts 0..16
    Conv 3x3 (1 -> 8, pad 1) + ReLU                              8x8x8
    Conv 3x3 (8 -> 8, group 8: depthwise, stride 2, pad 1) + ReLU 4x4x8
    Conv 1x1 (8 -> 16: pointwise) + ReLU                         4x4x16
    MaxPool 2x2                                                  2x2x16
    Flatten (ONNX's C, H, W order)                               64
    Gemm (64 -> 10)                                              logits

Needs torch, onnx, numpy (not run in CI; the outputs are committed):

    /work/venv-torch/bin/python scripts/models/train_cnn.py
    /work/venv-torch/bin/python scripts/models/train_cnn.py --depthwise

Deterministic on one machine (fixed seed, deterministic algorithms, one thread).
"""
import json
import sys

import onnx
import onnx.reference
import torch
from torch import nn

# The split, the training constants and the torch settings are the suite's
# (importing it only loads the data; its main() does not run).
from train_suite import (
    BATCH, LR, MAX_EPOCHS, OPSET, VALIDATION_EVERY, data, xtr, ytr, xva, yva, xte, yte,
)

DEPTHWISE = "--depthwise" in sys.argv[1:]
SEED = 2002 if DEPTHWISE else 2001
NAME = "cnn_depthwise" if DEPTHWISE else "cnn"
out_dir = data / "onnx"
xtr, xva, xte = (x.reshape(-1, 1, 8, 8) for x in (xtr, xva, xte))


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))


class DepthwiseCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.depthwise = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.pointwise = nn.Conv2d(8, 16, 1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.depthwise(x))
        x = self.pool(torch.relu(self.pointwise(x)))
        return self.fc(torch.flatten(x, 1))


def evaluate(model, x, y):
    model.eval()
    with torch.no_grad():
        logits = model(x)
    return int((logits.argmax(1) == y).sum()) / len(y), float(nn.functional.cross_entropy(logits, y))


def main():
    torch.manual_seed(SEED)
    model = DepthwiseCnn() if DEPTHWISE else Cnn()
    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    x, xv = xtr / 16.0, xva / 16.0
    best = (float("inf"), 0, None)
    for epoch in range(1, MAX_EPOCHS + 1):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), ytr[idx]).backward()
            opt.step()
        _, val_loss = evaluate(model, xv, yva)
        if val_loss < best[0]:
            best = (val_loss, epoch, {k: v.clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[2])
    val_acc, _ = evaluate(model, xv, yva)
    test_acc, _ = evaluate(model, xte / 16.0, yte)
    with torch.no_grad():
        model.conv1.weight.mul_(1.0 / 16.0)
    raw_test_acc, _ = evaluate(model, xte, yte)
    path = out_dir / f"{NAME}.onnx"
    torch.onnx.export(
        model,
        (xte[:1],),
        str(path),
        dynamo=False,
        opset_version=OPSET,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        do_constant_folding=True,
    )
    onnx.checker.check_model(str(path), full_check=True)
    ref = onnx.reference.ReferenceEvaluator(str(path))
    (logits,) = ref.run(None, {"input": xte.numpy()})
    onnx_acc = float((logits.argmax(1) == yte.numpy()).mean())
    assert abs(onnx_acc - raw_test_acc) < 1e-9, (onnx_acc, raw_test_acc)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    info = {
        "generated_by": "scripts/models/train_cnn.py" + (" --depthwise" if DEPTHWISE else ""),
        "torch_version": torch.__version__.split("+")[0],
        "onnx_version": onnx.__version__,
        "opset": OPSET,
        "seed": SEED,
        "epoch": best[1],
        "ops": ops,
        "validation_accuracy": val_acc,
        "test_accuracy": raw_test_acc,
        "onnx_reference_test_accuracy": onnx_acc,
        "validation_rule": f"row i of the training split is a validation row when i % {VALIDATION_EVERY} == 0",
    }
    (out_dir / f"{NAME}.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
