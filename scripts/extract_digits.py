#!/usr/bin/env python3
"""Vendor the 8x8 digits set (UCI optdigits, as shipped by scikit-learn) as .npy files.

Writes tests/data/digits_{train,test}_{x,y}.npy:
  *_x.npy  uint8, shape (n, 64): pixel counts 0..16, row-major 8x8 image
  *_y.npy  uint8, shape (n,):    class 0..9

Split: a permutation of the 1,797 images by numpy.random.default_rng(0);
the first 360 (20%) are the test split, the remaining 1,437 the training split.
The split is stored explicitly, so nothing downstream needs numpy's generator.

    pip install scikit-learn    # 1.x; the data ship inside the package
    python3 scripts/extract_digits.py
"""
import pathlib

import numpy as np
from sklearn.datasets import load_digits

SEED = 0
TEST_COUNT = 360

out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"
out.mkdir(parents=True, exist_ok=True)
digits = load_digits()
x = digits.data.astype(np.uint8)
y = digits.target.astype(np.uint8)
assert x.shape == (1797, 64) and x.max() == 16 and sorted(set(y.tolist())) == list(range(10))
order = np.random.default_rng(SEED).permutation(len(x))
test, train = order[:TEST_COUNT], order[TEST_COUNT:]
for name, idx in (("train", np.sort(train)), ("test", np.sort(test))):
    np.save(out / f"digits_{name}_x.npy", np.ascontiguousarray(x[idx]))
    np.save(out / f"digits_{name}_y.npy", np.ascontiguousarray(y[idx]))
    print(f"{name}: {len(idx)} images")
