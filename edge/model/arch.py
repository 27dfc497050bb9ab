"""The PercepNet network: its topology, described once (topology()), and two Keras forms
built from it that share weights by layer name.

build_model(config)       sequences [batch, time, 70] -> gains, strengths [batch, time, 34]
                          (training; Keras GRU layers, causal Conv1D)
build_step_model(config)  one frame plus explicit state in, outputs plus new state out
                          (streaming export to int8 TFLite: only Dense, concatenation,
                          slicing and elementwise ops, so every op is a TFLite builtin)

Topology (paper: arXiv 2008.04259, fig. 3): dense (tanh) -> causal conv k=5 (tanh) ->
causal conv k=3 (tanh) -> stacked GRUs -> gain branch (GRU -> dense 34 sigmoid) and strength
branch (GRU on [conv2 output, last stacked GRU] -> dense 34 sigmoid). The network is causal:
the 20 ms lookahead comes from pairing features of frame t with targets of frame t-2
(pn_oracle_step), so the convolutions see 2 frames past the frame being enhanced.

The GRU is Keras' reset_after form, with gates ordered (z, r, n):
    z = sigmoid(Wz x + bz + Uz h + cz)    r = sigmoid(Wr x + br + Ur h + cr)
    n = tanh(Wn x + bn + r * (Un h + cn))  h' = z * h + (1 - z) * n
The native engine (native/src/nnet.c) computes exactly this.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.native import NB_BANDS, NB_FEATURES  # the kernel's sizes, re-exported

CONFIGS = {
    # ~1.2M weights: the shipped default, trainable on a 2-core CPU in hours.
    "small": {"dense": 128, "conv": 192, "kernels": (5, 3), "gru": 192, "gru_layers": 3,
              "gain_gru": 192, "strength_gru": 64},
    # ~8M weights: the paper's network.
    "paper": {"dense": 128, "conv": 512, "kernels": (5, 3), "gru": 512, "gru_layers": 3,
              "gain_gru": 512, "strength_gru": 128},
}


def get_config(config) -> dict:
    """A configuration by name, or a dict with the same keys (e.g. tiny test models)."""
    if isinstance(config, dict):
        return config
    try:
        return CONFIGS[config]
    except KeyError:
        raise ValueError(f"unknown model config {config!r} (known: {', '.join(CONFIGS)})") from None


@dataclass(frozen=True)
class Layer:
    """One layer of the network. src: "features" or earlier layers' names (several are
    concatenated in that order). conv is causal over `kernel` frames."""
    name: str
    kind: str                   # "dense", "conv" or "gru"
    n_out: int
    src: tuple[str, ...]
    act: str | None = None      # dense/conv: None, "tanh", "sigmoid", "relu"; gru: None
    kernel: int = 1


OUTPUTS = ("gains", "strengths")  # the layers whose outputs the kernel reads, in this order


def topology(config) -> list[Layer]:
    """The network, in execution order: the one description that the Keras models, the
    state layout, the weight count, the .pnw layer table and the TFLite readers all use."""
    cfg = get_config(config)
    k1, k2 = cfg["kernels"]
    net = [Layer("dense_in", "dense", cfg["dense"], ("features",), "tanh"),
           Layer("conv1", "conv", cfg["conv"], ("dense_in",), "tanh", k1),
           Layer("conv2", "conv", cfg["conv"], ("conv1",), "tanh", k2)]
    for i in range(cfg["gru_layers"]):
        net.append(Layer(f"gru{i + 1}", "gru", cfg["gru"], (net[-1].name,)))
    top = net[-1].name
    return net + [Layer("gru_gain", "gru", cfg["gain_gru"], (top,)),
                  Layer("gains", "dense", NB_BANDS, ("gru_gain",), "sigmoid"),
                  Layer("gru_strength", "gru", cfg["strength_gru"], ("conv2", top)),
                  Layer("strengths", "dense", NB_BANDS, ("gru_strength",), "sigmoid")]


def config_from_layers(n_out: dict[str, int], kernel: dict[str, int]) -> dict:
    """The config whose topology has these layer widths and conv kernels (read back from an
    exported model); refuses a network that topology() would not build."""
    try:
        cfg = {"dense": n_out["dense_in"], "conv": n_out["conv1"],
               "kernels": (kernel["conv1"], kernel["conv2"]), "gru": n_out["gru1"],
               "gru_layers": sum(1 for n in n_out if n[3:].isdigit() and n.startswith("gru")),
               "gain_gru": n_out["gru_gain"], "strength_gru": n_out["gru_strength"]}
    except KeyError as e:
        raise ValueError(f"no layer {e.args[0]!r}: not a PercepNet network") from None
    for layer in topology(cfg):
        if n_out.get(layer.name) != layer.n_out or kernel.get(layer.name, 1) != layer.kernel:
            raise ValueError(f"layer {layer.name}: {n_out.get(layer.name)} outputs, kernel "
                             f"{kernel.get(layer.name, 1)}; the topology needs {layer.n_out}, {layer.kernel}")
    return cfg


def n_in(layer: Layer, net: list[Layer]) -> int:
    """Inputs per frame: the widths of the layer's sources together."""
    width = {x.name: x.n_out for x in net} | {"features": NB_FEATURES}
    return sum(width[s] for s in layer.src)


def matrix_shapes(layer: Layer, inputs: int) -> list[tuple[int, int]]:
    """(rows, cols) of each weight matrix, as the TFLite and .pnw store them (outputs x
    inputs): dense/conv one over kernel frames, gru W (3 gates x inputs) then U."""
    if layer.kind == "gru":
        return [(3 * layer.n_out, inputs), (3 * layer.n_out, layer.n_out)]
    return [(layer.n_out, layer.kernel * inputs)]


def state_sizes(config) -> list[tuple[str, int]]:
    """(name, size) of each state vector of the step model, in input order after features:
    a conv keeps its last kernel-1 input frames, a GRU its output."""
    net = topology(config)
    return [(f"{x.name}_state", (x.kernel - 1) * n_in(x, net) if x.kind == "conv" else x.n_out)
            for x in net if x.kind in ("conv", "gru")]


def count_weights(config) -> int:
    """Multiply-accumulate weights (biases excluded): what one frame costs in MACs."""
    net = topology(config)
    return sum(r * c for x in net for r, c in matrix_shapes(x, n_in(x, net)))


def build_model(config="small", seq_len=None, norm=None):
    """Sequence model for training: input [batch, time, 70], outputs [gains, strengths].
    norm: (mean, std) of the training features, standardising the input (edge.model.standardize;
    folded into dense_in at export)."""
    import keras
    from keras import layers

    inp = keras.Input((seq_len, NB_FEATURES), name="features")
    out = {"features": inp}
    if norm is not None:
        from edge.model.standardize import NAME, Standardize
        layer = Standardize(NB_FEATURES, name=NAME)
        out["features"] = layer(inp)
        layer.set_weights([np.asarray(v, np.float32) for v in norm])
    for x in topology(config):
        src = _joined([out[s] for s in x.src], x.name)
        if x.kind == "dense":
            out[x.name] = layers.Dense(x.n_out, activation=x.act, name=x.name)(src)
        elif x.kind == "conv":
            out[x.name] = layers.Conv1D(x.n_out, x.kernel, padding="causal", activation=x.act, name=x.name)(src)
        else:
            out[x.name] = layers.GRU(x.n_out, return_sequences=True, name=x.name)(src)
    name = f"percepnet_{config if isinstance(config, str) else 'custom'}"
    return keras.Model(inp, [out[o] for o in OUTPUTS], name=name)


def _joined(tensors, name):
    from keras import layers
    return tensors[0] if len(tensors) == 1 else layers.Concatenate(name=f"{name}_in")(tensors)


def _gru_step(x, h, units, name):
    """One GRU step from Dense ops (x and h projections), same maths as keras GRU."""
    from keras import layers, ops

    gx = layers.Dense(3 * units, name=f"{name}_x")(x)
    gh = layers.Dense(3 * units, name=f"{name}_h")(h)
    z = ops.sigmoid(gx[:, :units] + gh[:, :units])
    r = ops.sigmoid(gx[:, units:2 * units] + gh[:, units:2 * units])
    n = ops.tanh(gx[:, 2 * units:] + r * gh[:, 2 * units:])
    return z * h + (1.0 - z) * n


def _conv_step(x, state, layer: Layer, cin: int):
    """Causal conv over the last k frames: [state (k-1 frames), x] -> dense; new state drops
    the oldest frame."""
    from keras import layers

    k = layer.kernel
    win = layers.Concatenate(axis=1, name=f"{layer.name}_window")(
        [layers.Reshape((k - 1, cin))(state), layers.Reshape((1, cin))(x)])
    y = layers.Dense(layer.n_out, activation=layer.act, name=layer.name)(layers.Reshape((k * cin,))(win))
    new_state = layers.Reshape(((k - 1) * cin,))(layers.Cropping1D((1, 0))(win))
    return y, new_state


def build_step_model(config="small", seq_model=None):
    """One-frame model with explicit state. Inputs: features [1, 70] then the states of
    state_sizes(config); outputs: gains, strengths, then the new states in the same order.
    With seq_model, its weights are copied in (copy_weights)."""
    import keras
    from keras import layers

    net = topology(config)
    names = [n for n, _ in state_sizes(config)]
    feats = keras.Input((NB_FEATURES,), batch_size=1, name="features")
    states = {n: keras.Input((size,), batch_size=1, name=n) for n, size in state_sizes(config)}
    out, new = {"features": feats}, {}
    for x in net:
        src = _joined([out[s] for s in x.src], x.name)
        state = f"{x.name}_state"
        if x.kind == "dense":
            out[x.name] = layers.Dense(x.n_out, activation=x.act, name=x.name)(src)
        elif x.kind == "conv":
            out[x.name], new[state] = _conv_step(src, states[state], x, n_in(x, net))
        else:
            out[x.name] = new[state] = _gru_step(src, states[state], x.n_out, x.name)
    outputs = [layers.Identity(name=f"{o}_out")(out[o]) for o in OUTPUTS]
    outputs += [layers.Identity(name=f"{n}_out")(new[n]) for n in names]
    model = keras.Model([feats] + [states[n] for n in names], outputs, name="percepnet_step")
    if seq_model is not None:
        copy_weights(seq_model, model)
    return model


def keras_weights(seq_model) -> dict[str, list]:
    """Each weighted layer's weights by name, input standardisation folded into dense_in: the
    network on raw features, as the step model, the .tflite and the .pnw hold it."""
    from edge.model import standardize
    norm = standardize.of(seq_model)
    weights = {layer.name: layer.get_weights() for layer in seq_model.layers
               if layer.get_weights() and layer.name != standardize.NAME}
    if norm is not None:
        weights["dense_in"] = list(standardize.fold(*weights["dense_in"], *norm))
    return weights


def copy_weights(seq_model, step_model) -> None:
    """Copy a sequence model's weights into a step model, by layer name."""
    weights = keras_weights(seq_model)
    for layer in seq_model.layers:
        w = weights.get(layer.name)
        if w is None:
            continue
        if layer.__class__.__name__ == "GRU":
            kernel, recurrent, bias = w
            step_model.get_layer(f"{layer.name}_x").set_weights([kernel, bias[0]])
            step_model.get_layer(f"{layer.name}_h").set_weights([recurrent, bias[1]])
        elif layer.__class__.__name__ == "Conv1D":
            kernel, bias = w
            step_model.get_layer(layer.name).set_weights([kernel.reshape(-1, kernel.shape[-1]), bias])
        else:
            step_model.get_layer(layer.name).set_weights(w)
