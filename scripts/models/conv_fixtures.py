#!/usr/bin/env python3
"""Write the small convolution fixtures (issue 20): tiny ONNX graphs built
with onnx.helper, each a Conv network with one thing lutgen does not run
(refusals), and a few that it does (untrained, checked against tract).

Writes tests/data/onnx/conv_graphs/NAME.onnx:

    avgpool.onnx        Conv 3x3 (1 -> 4, pad 1), Relu, AveragePool 2x2, Flatten, Gemm
    global_avgpool.onnx Conv 3x3 (1 -> 4, pad 1), Relu, GlobalAveragePool, Flatten, Gemm
    conv_bn.onnx        Conv 5x5 (1 -> 4, stride 2, pads [2, 1, 1, 2] asymmetric),
                        BatchNormalization, Relu, Conv 1x1 (4 -> 4), Relu, Flatten, Gemm

Writes tests/data/onnx/conv_refusals/NAME.onnx (a few hundred bytes each,
random weights from a fixed seed; they are never run, only refused):

    dilations.onnx      Conv with dilations [2, 2]
    auto_pad.onnx       Conv with auto_pad SAME_UPPER
    kernel7.onnx        Conv with a 7x7 kernel
    stride3.onnx        Conv with strides [3, 3]
    ceil_mode.onnx      MaxPool 2x2 with ceil_mode 1
    pool3.onnx          MaxPool 3x3
    pool_first.onnx     MaxPool before any Conv
    residual.onnx       Add of two branches (x + Relu(Conv(x)))
    two_channels.onnx   a 2-channel input image

Every graph: input (N, C, 8, 8) float, a 3x3 Conv (pad 1) unless said
otherwise, Relu, Flatten, Gemm to 10. Opset 17.

Grouped and depthwise Convs are read since issue 20 (depthwise.onnx, a
group = C refusal, was removed; tests/data/onnx/cnn_depthwise.onnx, made by
train_cnn.py --depthwise, is the accepted model, and compile/tests/onnx.rs
builds the groups that are refused from it).

Needs onnx and numpy (not run in CI; the outputs are committed):

    /work/venv-torch/bin/python scripts/models/conv_fixtures.py
"""
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

root = pathlib.Path(__file__).resolve().parent.parent.parent
out_dir = root / "tests" / "data" / "onnx" / "conv_refusals"
rng = np.random.default_rng(20)


def const(name, shape):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def graph(name, channels=1, conv_attrs=None, kernel=3, out_channels=1, pool=None,
          pool_first=False, residual=False, group=1):
    conv_attrs = dict(conv_attrs or {})
    conv_attrs.setdefault("pads", [kernel // 2] * 4)
    conv_attrs = {k: v for k, v in conv_attrs.items() if v is not None}
    nodes, inits = [], []
    current = "input"
    side = 8
    if pool_first:
        nodes.append(helper.make_node("MaxPool", [current], ["pooled0"], name="pool0",
                                      kernel_shape=[2, 2], strides=[2, 2]))
        current, side = "pooled0", 4
    inits += [const("w", [out_channels, channels // group, kernel, kernel]), const("b", [out_channels])]
    nodes.append(helper.make_node("Conv", [current, "w", "b"], ["conv"], name="conv",
                                  kernel_shape=[kernel, kernel], group=group, **conv_attrs))
    nodes.append(helper.make_node("Relu", ["conv"], ["relu"], name="relu"))
    current = "relu"
    if residual:
        nodes.append(helper.make_node("Add", ["input", "relu"], ["sum"], name="residual"))
        current = "sum"
    if pool is not None:
        nodes.append(helper.make_node("MaxPool", [current], ["pooled"], name="pool", **pool))
        current = "pooled"
        side = 4
    nodes.append(helper.make_node("Flatten", [current], ["flat"], name="flatten", axis=1))
    width = out_channels * side * side
    inits += [const("fc_w", [10, width]), const("fc_b", [10])]
    nodes.append(helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["output"], name="fc",
                                  transB=1))
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 10])],
        inits,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="scripts/models/conv_fixtures.py")
    onnx.checker.check_model(model)
    onnx.save(model, str(out_dir / f"{name}.onnx"))


def accepted():
    """Graphs lutgen reads: pools, BatchNorm after a Conv, asymmetric pads, 5x5 and 1x1."""
    accepted_dir = out_dir.parent / "conv_graphs"
    accepted_dir.mkdir(parents=True, exist_ok=True)
    inp = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 8, 8])]
    out = [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 10])]

    def save(name, nodes, inits):
        g = helper.make_graph(nodes, name, inp, out, inits)
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)],
                                  producer_name="scripts/models/conv_fixtures.py")
        onnx.checker.check_model(model)
        onnx.save(model, str(accepted_dir / f"{name}.onnx"))

    conv = [const("w", [4, 1, 3, 3]), const("b", [4])]
    for name, pool, width in [
        ("avgpool", helper.make_node("AveragePool", ["relu"], ["pooled"], name="pool",
                                     kernel_shape=[2, 2], strides=[2, 2]), 64),
        ("global_avgpool", helper.make_node("GlobalAveragePool", ["relu"], ["pooled"],
                                            name="pool"), 4),
    ]:
        save(name, [
            helper.make_node("Conv", ["input", "w", "b"], ["conv"], name="conv",
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
            pool,
            helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten", axis=1),
            helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["output"], name="fc", transB=1),
        ], conv + [const("fc_w", [10, width]), const("fc_b", [10])])
    # 5x5 stride 2, pads top 2, left 1, bottom 1, right 2: (8 + 3 - 5) / 2 + 1 = 4 x 4.
    bn = [numpy_helper.from_array(np.abs(rng.standard_normal(4)).astype(np.float32) + 0.5, "bn_var")]
    save("conv_bn", [
        helper.make_node("Conv", ["input", "w5", "b5"], ["conv"], name="conv5",
                         kernel_shape=[5, 5], strides=[2, 2], pads=[2, 1, 1, 2]),
        helper.make_node("BatchNormalization", ["conv", "bn_scale", "bn_bias", "bn_mean", "bn_var"],
                         ["bn"], name="bn", epsilon=1e-5),
        helper.make_node("Relu", ["bn"], ["relu"], name="relu"),
        helper.make_node("Conv", ["relu", "w1", "b1"], ["conv1"], name="conv1x1",
                         kernel_shape=[1, 1]),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("Flatten", ["relu1"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["output"], name="fc", transB=1),
    ], [const("w5", [4, 1, 5, 5]), const("b5", [4]), const("bn_scale", [4]), const("bn_bias", [4]),
        const("bn_mean", [4])] + bn + [const("w1", [4, 4, 1, 1]), const("b1", [4]),
                                       const("fc_w", [10, 64]), const("fc_b", [10])])


def main():
    out_dir.mkdir(parents=True, exist_ok=True)
    graph("dilations", conv_attrs={"dilations": [2, 2], "pads": [2, 2, 2, 2]})
    graph("auto_pad", conv_attrs={"auto_pad": "SAME_UPPER", "pads": None})
    # The random draws of the removed depthwise.onnx (group = 4 on 4 channels),
    # so that the fixtures after it keep their weights.
    for shape in ([4, 1, 3, 3], [4], [10, 256], [10]):
        rng.standard_normal(shape)
    graph("kernel7", kernel=7)
    graph("stride3", conv_attrs={"strides": [3, 3]}, out_channels=1)
    graph("ceil_mode", pool={"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1})
    graph("pool3", pool={"kernel_shape": [3, 3], "strides": [2, 2]})
    graph("pool_first", pool_first=True)
    graph("residual", out_channels=1, residual=True)
    graph("two_channels", channels=2)
    accepted()


if __name__ == "__main__":
    main()
