#!/usr/bin/env python3
"""Convert a safetensors BERT encoder (all-MiniLM-L6-v2) to an fp32 ONNX graph.

Uses only onnx (helper/numpy_helper), numpy and safetensors' numpy loader: no torch,
no transformers. The architecture sizes come from the model's config.json.

    convert_minilm_to_onnx.py MODEL_DIR OUT.onnx

MODEL_DIR holds model.safetensors and config.json. The graph takes input_ids,
attention_mask and token_type_ids (int64 [batch, sequence]) and returns
last_hidden_state (float32 [batch, sequence, hidden]); pooling is left to the caller.
The output is byte-for-byte deterministic: fixed names, no timestamps.
"""

import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

OPSET = 17  # first opset with LayerNormalization
IR_VERSION = 8  # the IR version that goes with opset 17; ONNX Runtime 1.31 reads it


class Graph:
    """Collects nodes and initializers; every name is fixed so the output is stable."""

    def __init__(self, weights):
        self.weights = weights
        self.nodes = []
        self.inits = []
        self.const_names = {}

    def op(self, op_type, inputs, name, **attrs):
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attrs))
        return name

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def const(self, name, value, dtype):
        if name not in self.const_names:
            self.const_names[name] = self.init(name, np.array(value, dtype=dtype))
        return name

    def w(self, key, transpose=False):
        """A checkpoint tensor as an initializer (Linear weights are stored [out, in])."""
        array = self.weights[key]
        return self.init(key, array.T if transpose else array)

    def linear(self, x, key, name):
        y = self.op("MatMul", [x, self.w(key + ".weight", transpose=True)], name + "/matmul")
        return self.op("Add", [y, self.w(key + ".bias")], name + "/add")

    def layer_norm(self, x, key, eps, name):
        return self.op(
            "LayerNormalization",
            [x, self.w(key + ".weight"), self.w(key + ".bias")],
            name,
            axis=-1,
            epsilon=eps,
        )


def build(weights, cfg):
    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    head_dim = hidden // heads
    eps = float(cfg["layer_norm_eps"])
    if cfg.get("hidden_act", "gelu") != "gelu":
        sys.exit(f"convert: unsupported hidden_act {cfg['hidden_act']!r}")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        sys.exit("convert: only absolute position embeddings are supported")

    g = Graph(weights)
    i64, f32 = np.int64, np.float32

    # Embeddings: word + position + token type. Positions 0..seq-1 are the first seq rows
    # of the position table, taken with Slice. (Gather(table, Range(0, seq)) is the
    # textbook form, but ONNX Runtime 1.31's optimizer rewrites that into a Slice with
    # mis-shaped starts and fails at run time.)
    words = g.op("Gather", [g.w("embeddings.word_embeddings.weight"), "input_ids"], "emb/word")
    types = g.op("Gather", [g.w("embeddings.token_type_embeddings.weight"), "token_type_ids"], "emb/type")
    seq_len = g.op("Shape", ["input_ids"], "emb/seq_len", start=1, end=2)  # 1-D [seq]
    zero = g.const("c/zero_1d", [0], i64)
    pos = g.op("Slice", [g.w("embeddings.position_embeddings.weight"), zero, seq_len, zero], "emb/pos")
    x = g.op("Add", [g.op("Add", [words, pos], "emb/add_pos"), types], "emb/add_type")
    x = g.layer_norm(x, "embeddings.LayerNorm", eps, "emb/ln")

    # Additive attention mask [batch, 1, 1, seq]: 0 where attended, float32 min where
    # padded (what transformers uses), so padding gets exactly zero probability.
    mask = g.op("Cast", ["attention_mask"], "mask/float", to=TensorProto.FLOAT)
    mask = g.op("Unsqueeze", [mask, g.const("c/axes_1_2", [1, 2], i64)], "mask/unsqueeze")
    mask = g.op("Sub", [g.const("c/one_f32", 1.0, f32), mask], "mask/invert")
    mask = g.op("Mul", [mask, g.const("c/neg_inf", np.finfo(np.float32).min, f32)], "mask/additive")

    split_heads = g.const("c/split_heads", [0, 0, heads, head_dim], i64)  # 0 = copy dim
    merge_heads = g.const("c/merge_heads", [0, 0, hidden], i64)
    scale = g.const("c/attn_scale", 1.0 / math.sqrt(head_dim), f32)
    inv_sqrt2 = g.const("c/inv_sqrt2", 1.0 / math.sqrt(2.0), f32)
    half = g.const("c/half", 0.5, f32)

    for i in range(cfg["num_hidden_layers"]):
        p, n = f"encoder.layer.{i}.", f"l{i}/"

        def heads_of(which, perm):
            y = g.linear(x, p + "attention.self." + which, n + which)
            y = g.op("Reshape", [y, split_heads], n + which + "/split")
            return g.op("Transpose", [y], n + which + "/transpose", perm=perm)

        q = heads_of("query", [0, 2, 1, 3])  # [b, h, s, d]
        k = heads_of("key", [0, 2, 3, 1])  # [b, h, d, s]
        v = heads_of("value", [0, 2, 1, 3])  # [b, h, s, d]
        scores = g.op("MatMul", [q, k], n + "scores")
        scores = g.op("Mul", [scores, scale], n + "scores/scaled")
        scores = g.op("Add", [scores, mask], n + "scores/masked")
        probs = g.op("Softmax", [scores], n + "probs", axis=-1)
        ctx = g.op("MatMul", [probs, v], n + "context")
        ctx = g.op("Transpose", [ctx], n + "context/transpose", perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, merge_heads], n + "context/merge")
        attn = g.linear(ctx, p + "attention.output.dense", n + "attn_out")
        attn = g.op("Add", [attn, x], n + "attn_out/residual")
        x = g.layer_norm(attn, p + "attention.output.LayerNorm", eps, n + "attn_out/ln")

        # Feed-forward with exact GELU: 0.5 * h * (1 + erf(h / sqrt(2))).
        h = g.linear(x, p + "intermediate.dense", n + "ffn_in")
        erf = g.op("Erf", [g.op("Mul", [h, inv_sqrt2], n + "gelu/div")], n + "gelu/erf")
        erf = g.op("Add", [erf, "c/one_f32"], n + "gelu/add")
        h = g.op("Mul", [g.op("Mul", [h, erf], n + "gelu/mul"), half], n + "gelu/out")
        out = g.linear(h, p + "output.dense", n + "ffn_out")
        out = g.op("Add", [out, x], n + "ffn_out/residual")
        x = g.layer_norm(out, p + "output.LayerNorm", eps, n + "ffn_out/ln")

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))

    dims = ["batch", "sequence"]
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, dims)
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, dims + [hidden])
    graph = helper.make_graph(g.nodes, "bert_encoder", inputs, [output], initializer=g.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="selfrag-convert_minilm_to_onnx",
        producer_version="1",
    )
    model.ir_version = IR_VERSION
    return model


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model_dir, out_path = sys.argv[1], sys.argv[2]
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    weights = load_file(os.path.join(model_dir, "model.safetensors"))
    # Checkpoints saved from BertForX carry a "bert." prefix; the graph uses bare names.
    weights = {k.removeprefix("bert."): v for k, v in weights.items()}
    for key, want in [
        ("embeddings.word_embeddings.weight", (cfg["vocab_size"], cfg["hidden_size"])),
        ("embeddings.position_embeddings.weight", (cfg["max_position_embeddings"], cfg["hidden_size"])),
        ("encoder.layer.0.intermediate.dense.weight", (cfg["intermediate_size"], cfg["hidden_size"])),
    ]:
        if weights[key].shape != want:
            sys.exit(f"convert: {key} has shape {weights[key].shape}, config says {want}")

    model = build(weights, cfg)
    onnx.checker.check_model(model, full_check=True)
    tmp = out_path + ".partial"
    onnx.save_model(model, tmp)  # single file: ~90 MB of weights, well under protobuf's 2 GB
    os.replace(tmp, out_path)


if __name__ == "__main__":
    main()
