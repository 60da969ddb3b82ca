#!/usr/bin/env python3
"""Train the fidelity suite (issue 21): six MLPs on the 8x8 digits, exported to ONNX.

Writes tests/data/suite/:

    relu2_32.onnx    64-32-10             ReLU                    depth 2, narrow
    tanh2_64.onnx    64-64-10             Tanh (smooth)           depth 2
    relu3_128.onnx   64-128-64-10         ReLU                    depth 3
    gelu3_128.onnx   64-128-128-10        exact GELU (smooth)     depth 3
    bn3_128.onnx     64-128-64-10         BatchNorm1d after each hidden layer, ReLU
    relu4_256.onnx   64-256-128-64-10     ReLU                    depth 4, wide
    suite.json       what each model is, its seed, the epoch chosen, PyTorch's float
                     validation and test accuracy, and the validation rows

`lutgen suite tests/data/suite/suite.json` compiles every model with every
method and seed and measures the gap between float and device accuracy.

Data (as scripts/models/export_onnx_fixtures.py): tests/data/digits_{train,test}_{x,y}.npy,
raw pixel counts 0..16. The training split (1,437 rows) is cut in two by a fixed
rule: row i is a VALIDATION row when i % 5 == 0 (288 rows), a training row
otherwise (1,149 rows). The validation rows choose the epoch (lowest
validation cross entropy; the earliest on a tie) and nothing else. The test
split (360 rows) is used for nothing but the accuracy reported in suite.json.
`lutgen suite` calibrates and trains its tables on the same training rows only,
so the validation rows stay apart for tuning the compiler later.

Training: Adam (step 1e-3), batches of 32, at most MAX_EPOCHS epochs, inputs
scaled by 1/16; after training the 1/16 is folded into the first linear layer's
weights, so the exported graph takes raw pixels. Export: torch.onnx.export
(dynamo=False), opset 17, eval mode, dynamic batch; each file is checked with
onnx.checker and evaluated with onnx.reference.ReferenceEvaluator on the test
split (its accuracy must equal PyTorch's).

Needs torch, onnx, numpy (not run in CI; the outputs are committed):

    /work/venv-torch/bin/python scripts/models/train_suite.py

Deterministic on one machine (fixed seeds, deterministic algorithms, one thread).
"""
import json
import pathlib
import warnings

import numpy as np
import onnx
import onnx.reference
import torch
from torch import nn

OPSET = 17
MAX_EPOCHS = 60
BATCH = 32
LR = 1e-3
VALIDATION_EVERY = 5  # row i of the training split validates when i % 5 == 0

root = pathlib.Path(__file__).resolve().parent.parent.parent
data = root / "tests" / "data"
out_dir = data / "suite"

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=UserWarning, module="torch.onnx")

x_train_all = torch.from_numpy(np.load(data / "digits_train_x.npy").astype(np.float32))
y_train_all = torch.from_numpy(np.load(data / "digits_train_y.npy").astype(np.int64))
xte = torch.from_numpy(np.load(data / "digits_test_x.npy").astype(np.float32))
yte = torch.from_numpy(np.load(data / "digits_test_y.npy").astype(np.int64))

rows = np.arange(len(x_train_all))
validation_rows = rows[rows % VALIDATION_EVERY == 0]
training_rows = rows[rows % VALIDATION_EVERY != 0]
xtr, ytr = x_train_all[training_rows], y_train_all[training_rows]
xva, yva = x_train_all[validation_rows], y_train_all[validation_rows]


class Mlp(nn.Module):
    """Linear layers of `widths`, `activation` between them, optional BatchNorm1d
    after each hidden linear layer (before the activation); logits out."""

    def __init__(self, widths, activation, batch_norm=False):
        super().__init__()
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(widths, widths[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(widths) - 2:
                if batch_norm:
                    layers.append(nn.BatchNorm1d(fan_out))
                layers.append(activation())
        self.net = nn.Sequential(*layers)

    def first_linear(self):
        return self.net[0]

    def forward(self, x):
        return self.net(x)


# name, widths, activation, its name, BatchNorm, seed
SUITE = [
    ("relu2_32", (64, 32, 10), nn.ReLU, "relu", False, 2101),
    ("tanh2_64", (64, 64, 10), nn.Tanh, "tanh", False, 2102),
    ("relu3_128", (64, 128, 64, 10), nn.ReLU, "relu", False, 2103),
    ("gelu3_128", (64, 128, 128, 10), nn.GELU, "gelu", False, 2104),
    ("bn3_128", (64, 128, 64, 10), nn.ReLU, "relu", True, 2105),
    ("relu4_256", (64, 256, 128, 64, 10), nn.ReLU, "relu", False, 2106),
]


def evaluate(model, x, y):
    """(accuracy, mean cross entropy) of `model` on inputs already scaled."""
    model.eval()
    with torch.no_grad():
        logits = model(x)
    loss = float(nn.functional.cross_entropy(logits, y))
    return int((logits.argmax(1) == y).sum()) / len(y), loss


def train(model, seed):
    """Adam on the training rows; returns the state of the epoch with the lowest validation loss."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    x, xv = xtr / 16.0, xva / 16.0
    best = (float("inf"), 0, None)
    for epoch in range(1, MAX_EPOCHS + 1):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            if len(idx) < 2 and any(isinstance(m, nn.BatchNorm1d) for m in model.modules()):
                continue  # BatchNorm cannot train on one row
            opt.zero_grad()
            loss_fn(model(x[idx]), ytr[idx]).backward()
            opt.step()
        _, val_loss = evaluate(model, xv, yva)
        if val_loss < best[0]:
            best = (val_loss, epoch, {k: v.clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[2])
    model.eval()
    return model, best[1]


def export(model, name):
    path = out_dir / f"{name}.onnx"
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
    return path


def main():
    out_dir.mkdir(parents=True, exist_ok=True)
    suite = {
        "generated_by": "scripts/models/train_suite.py",
        "torch_version": torch.__version__.split("+")[0],
        "onnx_version": onnx.__version__,
        "exporter": "torch.onnx.export(dynamo=False), TorchScript-based",
        "opset": OPSET,
        "paths": "relative to this file's directory",
        "data": {
            "train_x": "../digits_train_x.npy",
            "train_y": "../digits_train_y.npy",
            "test_x": "../digits_test_x.npy",
            "test_y": "../digits_test_y.npy",
            "input": "raw pixel counts 0..16 as float32 (the 1/16 of training is folded into the first layer)",
            "validation_rule": f"row i of the training split is a validation row when i % {VALIDATION_EVERY} == 0",
            "validation_rows": [int(i) for i in validation_rows],
            "training_rows": len(training_rows),
            "test_rows": len(yte),
            "use": "models train on the training rows; the validation rows choose the epoch; "
                   "the test rows are used for nothing but the reported accuracy",
        },
        "training": {
            "optimizer": "Adam",
            "learning_rate": LR,
            "batch": BATCH,
            "max_epochs": MAX_EPOCHS,
            "selection": "the epoch with the lowest validation cross entropy (the earliest on a tie)",
        },
        "models": [],
    }
    for name, widths, activation, act_name, batch_norm, seed in SUITE:
        torch.manual_seed(seed)
        model, epoch = train(Mlp(widths, activation, batch_norm), seed)
        val_acc, val_loss = evaluate(model, xva / 16.0, yva)
        test_acc, _ = evaluate(model, xte / 16.0, yte)
        with torch.no_grad():
            model.first_linear().weight.mul_(1.0 / 16.0)
        raw_test_acc, _ = evaluate(model, xte, yte)
        path = export(model, name)
        (onnx_out,) = onnx.reference.ReferenceEvaluator(onnx.load(str(path))).run(
            None, {"input": xte.numpy()}
        )
        onnx_acc = int((onnx_out.argmax(1) == yte.numpy()).sum()) / len(yte)
        assert onnx_acc == raw_test_acc, (name, onnx_acc, raw_test_acc)
        arch = "-".join(map(str, widths)) + f", {act_name}" + (", BatchNorm1d after each hidden layer" if batch_norm else "")
        print(f"{name}: {arch}; epoch {epoch}, validation {val_acc:.4f}, test {raw_test_acc:.4f} "
              f"(scaled {test_acc:.4f}), {path.stat().st_size} bytes")
        suite["models"].append({
            "name": name,
            "file": path.name,
            "architecture": arch,
            "widths": list(widths),
            "depth": len(widths) - 1,
            "activation": act_name,
            "batch_norm": batch_norm,
            "seed": seed,
            "epochs": epoch,
            "float_validation_accuracy": val_acc,
            "float_validation_loss": val_loss,
            "float_test_accuracy": raw_test_acc,
            "onnx_reference_test_accuracy": onnx_acc,
            "parameters": sum(p.numel() for p in model.parameters()),
            "file_bytes": path.stat().st_size,
        })
    (out_dir / "suite.json").write_text(json.dumps(suite, indent=1) + "\n")
    total = sum(p.stat().st_size for p in out_dir.iterdir())
    print(f"wrote {out_dir / 'suite.json'}; the suite's files take {total} bytes")


if __name__ == "__main__":
    main()
