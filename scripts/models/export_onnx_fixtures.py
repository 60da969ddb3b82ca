#!/usr/bin/env python3
"""Train small MLPs on the vendored digits split with PyTorch; export ONNX fixtures.

Writes tests/data/onnx/ (issue 18, ONNX import):

    mlp_relu.onnx                 64-64-10 ReLU (Gemm, Relu, Gemm)
    mlp_tanh.onnx                 64-64-10 Tanh, ending in LogSoftmax
    mlp_gelu.onnx                 (N, 8, 8) input, Flatten, 64-64-10 exact GELU
    mlp_bn.onnx                   64-64-BatchNorm1d-ReLU-10 (+ Dropout in training), Softmax
    mlp_matmul.onnx               64-128-64-10 ReLU as explicit x @ W + b (MatMul + Add)
    mlp_relu_external.onnx(.data) mlp_relu with every initializer in external data
    conv.onnx, lstm.onnx,         untrained refusal fixtures (a Conv, an LSTM,
    transpose_middle.onnx,        a Reshape/Transpose between layers, a graph
    two_inputs.onnx               with two inputs)
    expected.json                 accuracies, outputs of the first test rows, op lists,
                                  checker and reference-evaluator results

Convention (as scripts/train_digits.py): the models take the RAW pixel counts
0..16 as float32. Training feeds x / 16; after training the 1/16 is folded
into the first linear layer's weights (bias unchanged), so the exported graph
sees raw pixels. Weights of nn.Linear layers keep PyTorch's (out, in) layout;
mlp_matmul stores W in (in, out) layout (as Keras does).

Export: the classic TorchScript exporter (dynamo=False), opset 17, eval mode,
batch dimension dynamic ("batch"). Each file is checked with
onnx.checker.check_model and evaluated with onnx.reference.ReferenceEvaluator
(onnxruntime is not used) against torch on the first test rows.

Needs torch, onnx, numpy:

    /work/venv-torch/bin/python scripts/models/export_onnx_fixtures.py

Deterministic on one machine (fixed seeds, deterministic algorithms, one
thread); the last bits of the weights may differ across torch/BLAS builds,
and the committed fixtures and expected.json are the reference.
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
EPOCHS = 40
BATCH = 32
LR = 1e-3
FIRST_ROWS = 4
TOLERANCE = 1e-4

root = pathlib.Path(__file__).resolve().parent.parent.parent
data = root / "tests" / "data"
out_dir = data / "onnx"

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
warnings.filterwarnings("ignore", category=DeprecationWarning)  # the legacy exporter says it is legacy
warnings.filterwarnings("ignore", category=UserWarning, module="torch.onnx")

xtr = torch.from_numpy(np.load(data / "digits_train_x.npy").astype(np.float32))
ytr = torch.from_numpy(np.load(data / "digits_train_y.npy").astype(np.int64))
xte = torch.from_numpy(np.load(data / "digits_test_x.npy").astype(np.float32))
yte = torch.from_numpy(np.load(data / "digits_test_y.npy").astype(np.int64))


# ---------------------------------------------------------------- the models


class MlpRelu(nn.Module):
    """64-64-10, ReLU; logits."""

    def __init__(self):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)

    def first_linear(self):
        return self.fc1

    def logits(self, x):
        return self.fc2(self.act(self.fc1(x)))

    def forward(self, x):
        return self.logits(x)


class MlpTanh(MlpRelu):
    """64-64-10, Tanh, ending in LogSoftmax (outputs log-probabilities)."""

    def __init__(self):
        super().__init__()
        self.act, self.out = nn.Tanh(), nn.LogSoftmax(dim=1)

    def forward(self, x):
        return self.out(self.logits(x))


class MlpGelu(nn.Module):
    """(N, 8, 8) -> Flatten -> 64-64-10 with exact GELU; logits."""

    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1, self.act, self.fc2 = nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 10)

    def first_linear(self):
        return self.fc1

    def logits(self, x):
        return self.fc2(self.act(self.fc1(self.flatten(x))))

    def forward(self, x):
        return self.logits(x)


class MlpBn(nn.Module):
    """64-64-BatchNorm1d-ReLU-(Dropout 0.1)-10, ending in Softmax (probabilities)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.bn1, self.act = nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU()
        self.drop, self.fc2, self.out = nn.Dropout(0.1), nn.Linear(64, 10), nn.Softmax(dim=1)

    def first_linear(self):
        return self.fc1

    def logits(self, x):
        return self.fc2(self.drop(self.act(self.bn1(self.fc1(x)))))

    def forward(self, x):
        return self.out(self.logits(x))


class MlpMatmul(nn.Module):
    """64-128-64-10, ReLU, explicit x @ W + b with W in (in, out) layout; logits."""

    def __init__(self, sizes=(64, 128, 64, 10)):
        super().__init__()
        for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), 1):
            bound = 1.0 / fan_in**0.5  # nn.Linear's default range
            setattr(self, f"W{i}", nn.Parameter(torch.empty(fan_in, fan_out).uniform_(-bound, bound)))
            setattr(self, f"b{i}", nn.Parameter(torch.empty(fan_out).uniform_(-bound, bound)))

    def fold_input_scale(self, scale):
        self.W1.mul_(scale)

    def logits(self, x):
        h = torch.relu(x @ self.W1 + self.b1)
        h = torch.relu(h @ self.W2 + self.b2)
        return h @ self.W3 + self.b3

    def forward(self, x):
        return self.logits(x)


# Refusal fixtures: untrained, deterministic initialisation.


class ConvNet(nn.Module):
    """(N, 1, 8, 8) -> Conv2d(1, 4, 3, padding 1) -> ReLU -> Flatten -> Linear(256, 10)."""

    def __init__(self):
        super().__init__()
        self.conv, self.act = nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()
        self.flatten, self.fc = nn.Flatten(), nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(self.flatten(self.act(self.conv(x))))


class LstmNet(nn.Module):
    """(N, 8, 8) as 8 steps of 8 pixels -> LSTM(8, 16) -> last step -> Linear(16, 10)."""

    def __init__(self):
        super().__init__()
        self.lstm, self.fc = nn.LSTM(8, 16, batch_first=True), nn.Linear(16, 10)

    def forward(self, x):
        seq, _ = self.lstm(x)
        return self.fc(seq[:, -1, :])


class TransposeMiddle(nn.Module):
    """Linear(64, 32) -> Reshape (N, 4, 8) -> Transpose -> Flatten -> Linear(32, 10)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(64, 32), nn.Linear(32, 10)

    def forward(self, x):
        h = self.fc1(x).reshape(-1, 4, 8).transpose(1, 2)
        return self.fc2(torch.flatten(h, 1))


class TwoInputs(nn.Module):
    """Two (N, 64) inputs a, b -> Linear(64, 10)(a) + Linear(64, 10)(b)."""

    def __init__(self):
        super().__init__()
        self.fa, self.fb = nn.Linear(64, 10), nn.Linear(64, 10)

    def forward(self, a, b):
        return self.fa(a) + self.fb(b)


# ------------------------------------------------------------------ training


def train(model, seed, reshape=None):
    """Adam on cross-entropy of the logits, inputs scaled by 1/16; then fold the 1/16."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    x_all = xtr / 16.0
    if reshape:
        x_all = x_all.reshape(-1, *reshape)
    model.train()
    for epoch in range(EPOCHS):
        order = torch.randperm(len(x_all), generator=gen)
        total = 0.0
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            opt.zero_grad()
            loss = loss_fn(model.logits(x_all[idx]), ytr[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if epoch % 10 == 9:
            print(f"  epoch {epoch + 1}: loss {total / len(x_all):.4f}")
    model.eval()
    with torch.no_grad():
        if hasattr(model, "fold_input_scale"):
            model.fold_input_scale(1.0 / 16.0)
        else:
            model.first_linear().weight.mul_(1.0 / 16.0)
    return model


# ------------------------------------------------------------------- export


def export(model, args, name, input_names=("input",), output_names=("output",)):
    path = out_dir / name
    model.eval()
    axes = {n: {0: "batch"} for n in (*input_names, *output_names)}
    torch.onnx.export(
        model,
        args,
        str(path),
        dynamo=False,
        opset_version=OPSET,
        input_names=list(input_names),
        output_names=list(output_names),
        dynamic_axes=axes,
        do_constant_folding=True,
    )
    return path


def graph_summary(path):
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    g = model.graph
    return model, {
        "ops": [n.op_type for n in g.node],
        "initializers": {t.name: list(t.dims) for t in g.initializer},
        "inputs": [_value_info(v) for v in g.input],
        "outputs": [_value_info(v) for v in g.output],
        "opset": [{"domain": o.domain, "version": o.version} for o in model.opset_import],
        "checker": "ok",
        "file_bytes": path.stat().st_size,
    }


def _value_info(v):
    dims = [d.dim_param if d.HasField("dim_param") else d.dim_value for d in v.type.tensor_type.shape.dim]
    return {"name": v.name, "elem_type": onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type), "shape": dims}


def reference_check(model_proto, feeds, torch_out):
    ref = onnx.reference.ReferenceEvaluator(model_proto)
    (got,) = ref.run(None, {k: v.numpy() for k, v in feeds.items()})
    diff = float(np.abs(got - torch_out.numpy()).max())
    assert got.shape == tuple(torch_out.shape), (got.shape, torch_out.shape)
    assert diff < TOLERANCE, f"reference evaluator differs from torch by {diff}"
    return {"rows": len(got), "max_abs_diff": diff, "tolerance": TOLERANCE, "ok": True}


def floats(t):
    return [[float(v) for v in row] for row in t.numpy().astype(np.float32)]


# --------------------------------------------------------------------- main


def main():
    out_dir.mkdir(parents=True, exist_ok=True)
    expected = {
        "generated_by": "scripts/models/export_onnx_fixtures.py",
        "torch_version": torch.__version__.split("+")[0],
        "onnx_version": onnx.__version__,
        "exporter": "torch.onnx.export(dynamo=False), TorchScript-based",
        "opset": OPSET,
        "test_data": "tests/data/digits_test_x.npy, digits_test_y.npy (raw pixels 0..16, float32)",
        "first_rows": FIRST_ROWS,
        "first_rows_labels": [int(v) for v in yte[:FIRST_ROWS]],
        "onnxruntime": "not installed; outputs checked with onnx.reference.ReferenceEvaluator",
        "models": {},
        "refusals": {},
    }

    trained = [
        # name, class, seed, input shape after the batch dim, output kind
        ("mlp_relu.onnx", MlpRelu, 1, (64,), "logits"),
        ("mlp_tanh.onnx", MlpTanh, 2, (64,), "log_softmax"),
        ("mlp_gelu.onnx", MlpGelu, 3, (8, 8), "logits"),
        ("mlp_bn.onnx", MlpBn, 4, (64,), "softmax"),
        ("mlp_matmul.onnx", MlpMatmul, 5, (64,), "logits"),
    ]
    relu_model = None
    for name, cls, seed, shape, kind in trained:
        print(f"{name}: training {cls.__name__} (seed {seed})")
        torch.manual_seed(seed)
        model = train(cls(), seed, reshape=shape if shape != (64,) else None)
        x = xte.reshape(-1, *shape)
        with torch.no_grad():
            out = model(x)
        correct = int((out.argmax(1) == yte).sum())
        path = export(model, (x[:1],), name)
        proto, info = graph_summary(path)
        check = reference_check(proto, {"input": x[:FIRST_ROWS]}, out[:FIRST_ROWS])
        (full,) = onnx.reference.ReferenceEvaluator(proto).run(None, {"input": x.numpy()})
        expected["models"][name] = {
            "architecture": cls.__doc__.strip(),
            "input_shape": ["batch", *shape],
            "output": kind,
            "seed": seed,
            "epochs": EPOCHS,
            "test_rows": len(yte),
            "test_correct": correct,
            "torch_float_accuracy": correct / len(yte),
            "onnx_reference_accuracy": float((full.argmax(1) == yte.numpy()).mean()),
            "first_rows_output": floats(out[:FIRST_ROWS]),
            **info,
            "reference_check": check,
        }
        if name == "mlp_relu.onnx":
            relu_model, relu_out = model, out

    # The same network as mlp_relu, every initializer in one external data file.
    name, location = "mlp_relu_external.onnx", "mlp_relu_external.onnx.data"
    proto = onnx.load(str(out_dir / "mlp_relu.onnx"))
    (out_dir / location).unlink(missing_ok=True)  # onnx appends to an existing data file
    onnx.save_model(
        proto,
        str(out_dir / name),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=location,
        size_threshold=0,
    )
    path = out_dir / name
    _, info = graph_summary(path)  # onnx.load resolves the external data next to the file
    proto = onnx.load(str(path))
    check = reference_check(proto, {"input": xte[:FIRST_ROWS]}, relu_out[:FIRST_ROWS])
    ext = onnx.load(str(path), load_external_data=False)
    base = expected["models"]["mlp_relu.onnx"]
    expected["models"][name] = {
        **{k: base[k] for k in ("architecture", "input_shape", "output", "seed", "epochs", "test_rows",
                                "test_correct", "torch_float_accuracy", "onnx_reference_accuracy",
                                "first_rows_output")},
        "same_network_as": "mlp_relu.onnx",
        **info,
        "external_data_file": location,
        "external_data_bytes": (out_dir / location).stat().st_size,
        "external_data": {
            t.name: {e.key: e.value for e in t.external_data} for t in ext.graph.initializer
        },
        "reference_check": check,
    }

    refusals = [
        ("conv.onnx", ConvNet, 11, [(1, 8, 8)], ("input",), "Conv (a convolution, not a dense layer)"),
        ("lstm.onnx", LstmNet, 12, [(8, 8)], ("input",), "LSTM (a recurrent layer)"),
        ("transpose_middle.onnx", TransposeMiddle, 13, [(64,)], ("input",),
         "Reshape to (N, 4, 8) and Transpose between the layers (not a flatten to 2-D)"),
        ("two_inputs.onnx", TwoInputs, 14, [(64,), (64,)], ("a", "b"), "two graph inputs"),
    ]
    for name, cls, seed, shapes, inputs, reason in refusals:
        print(f"{name}: exporting untrained {cls.__name__} (seed {seed})")
        torch.manual_seed(seed)
        model = cls().eval()
        xs = [xte[:FIRST_ROWS].reshape(-1, *shapes[0])]
        if len(shapes) > 1:
            xs.append(xte[FIRST_ROWS : 2 * FIRST_ROWS].reshape(-1, *shapes[1]))
        with torch.no_grad():
            out = model(*xs)
        path = export(model, tuple(x[:1] for x in xs), name, input_names=inputs)
        proto, info = graph_summary(path)
        check = reference_check(proto, dict(zip(inputs, xs)), out)
        expected["refusals"][name] = {
            "architecture": cls.__doc__.strip(),
            "should_refuse_because": reason,
            "seed": seed,
            "trained": False,
            "reference_inputs": (
                "test rows 0..3 as input" if len(inputs) == 1
                else "test rows 0..3 as a, test rows 4..7 as b"
            ),
            "first_rows_output": floats(out),
            **info,
            "reference_check": check,
        }

    (out_dir / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {out_dir / 'expected.json'}")

    print()
    print(f"{'file':24} {'bytes':>7} {'acc':>7} {'ref diff':>9}  ops")
    for section in ("models", "refusals"):
        for name, m in expected[section].items():
            acc = f"{m['torch_float_accuracy']:.4f}" if "torch_float_accuracy" in m else "-"
            print(f"{name:24} {m['file_bytes']:7} {acc:>7} {m['reference_check']['max_abs_diff']:9.1e}  "
                  f"{' '.join(m['ops'])}")


if __name__ == "__main__":
    main()
