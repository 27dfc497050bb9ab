"""The PercepNet network, in two Keras forms that share weights by layer name.

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


def gru_names(cfg: dict) -> list[str]:
    return [f"gru{i + 1}" for i in range(cfg["gru_layers"])] + ["gru_gain", "gru_strength"]


def state_sizes(config) -> list[tuple[str, int]]:
    """(name, size) of each state vector of the step model, in input order after features."""
    cfg = get_config(config)
    k1, k2 = cfg["kernels"]
    sizes = [("conv1_state", (k1 - 1) * cfg["dense"]), ("conv2_state", (k2 - 1) * cfg["conv"])]
    widths = [cfg["gru"]] * cfg["gru_layers"] + [cfg["gain_gru"], cfg["strength_gru"]]
    return sizes + [(f"{n}_state", w) for n, w in zip(gru_names(cfg), widths)]


def count_weights(config) -> int:
    """Multiply-accumulate weights (biases excluded): what one frame costs in MACs."""
    cfg = get_config(config)
    d, c, k1, k2 = cfg["dense"], cfg["conv"], *cfg["kernels"]
    n = NB_FEATURES * d + k1 * d * c + k2 * c * c
    prev = c
    for _ in range(cfg["gru_layers"]):
        n += 3 * (prev + cfg["gru"]) * cfg["gru"]
        prev = cfg["gru"]
    g, s = cfg["gain_gru"], cfg["strength_gru"]
    n += 3 * (prev + g) * g + g * NB_BANDS
    n += 3 * (c + prev + s) * s + s * NB_BANDS
    return n


def build_model(config="small", seq_len=None):
    """Sequence model for training: input [batch, time, 70], outputs [gains, strengths]."""
    import keras
    from keras import layers

    cfg = get_config(config)
    k1, k2 = cfg["kernels"]
    inp = keras.Input((seq_len, NB_FEATURES), name="features")
    x = layers.Dense(cfg["dense"], activation="tanh", name="dense_in")(inp)
    x = layers.Conv1D(cfg["conv"], k1, padding="causal", activation="tanh", name="conv1")(x)
    conv = layers.Conv1D(cfg["conv"], k2, padding="causal", activation="tanh", name="conv2")(x)
    h = conv
    for i in range(cfg["gru_layers"]):
        h = layers.GRU(cfg["gru"], return_sequences=True, name=f"gru{i + 1}")(h)
    g = layers.GRU(cfg["gain_gru"], return_sequences=True, name="gru_gain")(h)
    gains = layers.Dense(NB_BANDS, activation="sigmoid", name="gains")(g)
    s_in = layers.Concatenate(name="strength_in")([conv, h])
    s = layers.GRU(cfg["strength_gru"], return_sequences=True, name="gru_strength")(s_in)
    strengths = layers.Dense(NB_BANDS, activation="sigmoid", name="strengths")(s)
    return keras.Model(inp, [gains, strengths], name=f"percepnet_{config if isinstance(config, str) else 'custom'}")


def _gru_step(x, h, units, name):
    """One GRU step from Dense ops (x and h projections), same maths as keras GRU."""
    from keras import layers, ops

    gx = layers.Dense(3 * units, name=f"{name}_x")(x)
    gh = layers.Dense(3 * units, name=f"{name}_h")(h)
    z = ops.sigmoid(gx[:, :units] + gh[:, :units])
    r = ops.sigmoid(gx[:, units:2 * units] + gh[:, units:2 * units])
    n = ops.tanh(gx[:, 2 * units:] + r * gh[:, 2 * units:])
    return z * h + (1.0 - z) * n


def _conv_step(x, state, k, cin, cout, name):
    """Causal conv over the last k frames: [state (k-1 frames), x] -> dense; new state drops
    the oldest frame."""
    from keras import layers

    win = layers.Concatenate(axis=1, name=f"{name}_window")(
        [layers.Reshape((k - 1, cin))(state), layers.Reshape((1, cin))(x)])
    y = layers.Dense(cout, activation="tanh", name=name)(layers.Reshape((k * cin,))(win))
    new_state = layers.Reshape(((k - 1) * cin,))(layers.Cropping1D((1, 0))(win))
    return y, new_state


def build_step_model(config="small", seq_model=None):
    """One-frame model with explicit state. Inputs: features [1, 70] then the states of
    state_sizes(config); outputs: gains, strengths, then the new states in the same order.
    With seq_model, its weights are copied in (copy_weights)."""
    import keras
    from keras import layers

    cfg = get_config(config)
    k1, k2 = cfg["kernels"]
    names = [n for n, _ in state_sizes(cfg)]
    feats = keras.Input((NB_FEATURES,), batch_size=1, name="features")
    states = {n: keras.Input((size,), batch_size=1, name=n) for n, size in state_sizes(cfg)}
    new = {}
    x = layers.Dense(cfg["dense"], activation="tanh", name="dense_in")(feats)
    x, new["conv1_state"] = _conv_step(x, states["conv1_state"], k1, cfg["dense"], cfg["conv"], "conv1")
    conv, new["conv2_state"] = _conv_step(x, states["conv2_state"], k2, cfg["conv"], cfg["conv"], "conv2")
    h = conv
    for i in range(cfg["gru_layers"]):
        n = f"gru{i + 1}"
        h = new[f"{n}_state"] = _gru_step(h, states[f"{n}_state"], cfg["gru"], n)
    g = new["gru_gain_state"] = _gru_step(h, states["gru_gain_state"], cfg["gain_gru"], "gru_gain")
    gains = layers.Dense(NB_BANDS, activation="sigmoid", name="gains")(g)
    s_in = layers.Concatenate(name="strength_in")([conv, h])
    s = new["gru_strength_state"] = _gru_step(s_in, states["gru_strength_state"], cfg["strength_gru"],
                                              "gru_strength")
    strengths = layers.Dense(NB_BANDS, activation="sigmoid", name="strengths")(s)
    outputs = [layers.Identity(name="gains_out")(gains), layers.Identity(name="strengths_out")(strengths)]
    outputs += [layers.Identity(name=f"{n}_out")(new[n]) for n in names]
    model = keras.Model([feats] + [states[n] for n in names], outputs, name="percepnet_step")
    if seq_model is not None:
        copy_weights(seq_model, model)
    return model


def copy_weights(seq_model, step_model) -> None:
    """Copy a sequence model's weights into a step model, by layer name."""
    for layer in seq_model.layers:
        w = layer.get_weights()
        if not w:
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
