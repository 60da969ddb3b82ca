#!/usr/bin/env python3
"""Train the float 64-64-10 MLP on the vendored digits split; write safetensors.

Needs only numpy (no torch): a hand-written two-layer perceptron trained with
Adam on softmax cross-entropy, mini-batches of 32, fixed seed. The network
takes the raw pixel counts 0..16: training scales them by 1/16 and the
scaling is folded into the first layer's weights before saving, so

    logits = fc2.weight @ relu(fc1.weight @ x + fc1.bias) + fc2.bias

with x the 64 raw pixel values. Tensors follow PyTorch's nn.Linear layout
(weight: (out, in), float32), so a torch state_dict of the same shape is a
drop-in replacement.

    python3 scripts/extract_digits.py   # once, to vendor the data
    python3 scripts/train_digits.py     # writes tests/data/digits_mlp.safetensors

Results may differ in the last bits across BLAS builds; the committed
weights are the reference.
"""
import json
import pathlib
import struct

import numpy as np

SEED = 0
HIDDEN = 64
EPOCHS = 60
BATCH = 32
LR = 1e-3
WEIGHT_DECAY = 1e-4

data = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"
xtr = np.load(data / "digits_train_x.npy").astype(np.float64) / 16.0
ytr = np.load(data / "digits_train_y.npy").astype(np.int64)
xte = np.load(data / "digits_test_x.npy").astype(np.float64) / 16.0
yte = np.load(data / "digits_test_y.npy").astype(np.int64)

rng = np.random.default_rng(SEED)


def init(fan_in, fan_out):
    bound = 1.0 / np.sqrt(fan_in)  # PyTorch nn.Linear's default
    return rng.uniform(-bound, bound, (fan_out, fan_in)), rng.uniform(-bound, bound, fan_out)


params = dict(zip(("w1", "b1"), init(64, HIDDEN)))
params.update(zip(("w2", "b2"), init(HIDDEN, 10)))
adam = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}


def forward(x, p):
    h = np.maximum(x @ p["w1"].T + p["b1"], 0.0)
    return h, h @ p["w2"].T + p["b2"]


def accuracy(x, y, p):
    return float((forward(x, p)[1].argmax(1) == y).mean())


step = 0
for epoch in range(EPOCHS):
    order = rng.permutation(len(xtr))
    for start in range(0, len(order), BATCH):
        idx = order[start : start + BATCH]
        x, y = xtr[idx], ytr[idx]
        h, logits = forward(x, params)
        z = logits - logits.max(1, keepdims=True)
        prob = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        g = prob
        g[np.arange(len(y)), y] -= 1.0
        g /= len(y)
        grads = {"w2": g.T @ h, "b2": g.sum(0)}
        gh = (g @ params["w2"]) * (h > 0)
        grads.update(w1=gh.T @ x, b1=gh.sum(0))
        step += 1
        for k, v in params.items():
            gk = grads[k] + WEIGHT_DECAY * v * k.startswith("w")
            m, s = adam[k]
            m[:] = 0.9 * m + 0.1 * gk
            s[:] = 0.999 * s + 0.001 * gk * gk
            mh, sh = m / (1 - 0.9**step), s / (1 - 0.999**step)
            v -= LR * mh / (np.sqrt(sh) + 1e-8)
    if epoch % 10 == 9 or epoch == EPOCHS - 1:
        print(f"epoch {epoch + 1}: train {accuracy(xtr, ytr, params):.4f} test {accuracy(xte, yte, params):.4f}")

# Fold the 1/16 input scaling into fc1 so the saved model takes raw pixels 0..16.
tensors = {
    "fc1.weight": params["w1"] / 16.0,
    "fc1.bias": params["b1"],
    "fc2.weight": params["w2"],
    "fc2.bias": params["b2"],
}
tensors = {k: np.ascontiguousarray(v, dtype="<f4") for k, v in tensors.items()}
raw = np.load(data / "digits_test_x.npy").astype(np.float32)
h = np.maximum(raw @ tensors["fc1.weight"].T + tensors["fc1.bias"], 0)
acc = float(((h @ tensors["fc2.weight"].T + tensors["fc2.bias"]).argmax(1) == yte).mean())
print(f"float32 test accuracy of the saved model: {acc:.4f} ({int(round(acc * len(yte)))}/{len(yte)})")


def save_safetensors(path, tensors):
    """The safetensors layout: u64 header length, JSON header, raw little-endian data."""
    header, blobs, offset = {"__metadata__": {"source": "scripts/train_digits.py"}}, [], 0
    for name in sorted(tensors):
        b = tensors[name].tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # keep the data 8-byte aligned
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


save_safetensors(data / "digits_mlp.safetensors", tensors)
print(f"wrote {data / 'digits_mlp.safetensors'}")
