"""Training the PercepNet network: resumable exactly, checkpointed, bounded by steps or hours.

OUT holds: checkpoint.keras (model + optimizer, every few minutes), best.keras (lowest
validation loss), state.json (step, elapsed time, the batch sampler's state, the recipe, the
validation history), and after export model.tflite (int8) and model.pnw (native weights).
A run resumed from OUT draws the very batches it would have drawn without the stop."""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge.errors import EdgeError
from edge.model import pnw
from edge.model.loss import MASKED, LossConfig, custom_objects

NOISE_BIN = 0.03   # a target gain under this: a bin of noise to remove (-30 dB)
SPEECH_BIN = 0.9   # over this: a bin of speech to keep


@dataclass
class TrainConfig:
    config: str | dict = "small"
    steps: int | None = None          # stop after this many optimizer steps in total
    hours: float | None = None        # stop after this much wall-clock time in this run
    batch: int = 32
    seq_frames: int = 200             # frames per training sequence (crops of the examples)
    lr: float | None = None           # peak rate; None: 1e-3 for a new run, the run's own on resume
    checkpoint_s: float = 300.0
    val_fraction: float = 0.05        # of the crops, when no validation set is given
    seed: int = 0
    loss: LossConfig = field(default_factory=LossConfig)
    weight_decay: float = 0.0         # AdamW's decoupled weight decay; 0: Adam
    warmup_steps: int = 0             # linear warm-up of the rate from 0
    decay_steps: int | None = None    # cosine decay of the rate over this many steps ...
    decay_to: float = 1.0             # ... down to this fraction of the peak
    standardize: bool = False         # inputs standardised by the training set's statistics
    init: str | None = None           # a .tflite whose weights start a new run


def learning_rate(cfg: TrainConfig, peak: float, step: int) -> float:
    """The rate of optimizer step `step` (0-based): warm-up, then cosine decay."""
    rate = peak * min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else peak
    if cfg.decay_steps:
        t = min(step / cfg.decay_steps, 1.0)
        rate *= cfg.decay_to + (1 - cfg.decay_to) * 0.5 * (1 + math.cos(math.pi * t))
    return rate


def _optimizer(cfg: TrainConfig, lr: float):
    import keras
    if cfg.weight_decay:
        return keras.optimizers.AdamW(lr, weight_decay=cfg.weight_decay, clipnorm=1.0)
    return keras.optimizers.Adam(lr, clipnorm=1.0)


def _compile(model, cfg: TrainConfig, optimizer) -> None:
    from edge.model.loss import losses
    model.compile(optimizer=optimizer, loss=list(losses(cfg.loss)), loss_weights=[1.0, cfg.loss.strength_weight])


def new_model(cfg: TrainConfig, norm=None):
    """A freshly initialised model (from cfg.init's weights where given), compiled."""
    from edge.model.arch import build_model

    model = build_model(cfg.config, norm=norm)
    if cfg.init:
        from edge.model.warm_start import load_into
        load_into(model, cfg.init, cfg.config)
    _compile(model, cfg, _optimizer(cfg, cfg.lr or 1e-3))
    return model


def crops(features, gains, strengths, seq_frames: int):
    """Cut [N, T, ...] sequences into non-overlapping [M, seq_frames, ...] crops."""
    t = features.shape[1] // seq_frames * seq_frames
    if t == 0:
        raise EdgeError(f"training examples have {features.shape[1]} frames, fewer than "
                        f"--seq-frames {seq_frames}")
    cut = lambda a: a[:, :t].reshape(-1, seq_frames, a.shape[-1])  # noqa: E731
    return cut(features), cut(gains), cut(strengths)


def read_state(out: Path) -> dict:
    p = out / "state.json"
    return json.loads(p.read_text()) if p.is_file() else {"step": 0, "elapsed_s": 0.0, "best_val": None,
                                                          "history": []}


def measure(pred_g, pred_s, g, s, loss: LossConfig) -> dict:
    """Validation figures of predictions against targets [N, T, 34] (MASKED left out): the
    run's own loss; the paper's loss (gamma 1/2), comparable between runs of other losses;
    the mean gain in dB left in noise bins (target under NOISE_BIN) and in speech bins (over
    SPEECH_BIN); the paper's gain loss over speech bins alone."""
    from keras import ops
    from edge.model.loss import losses

    def mean(x):
        return float(np.mean(ops.convert_to_numpy(x)))

    run_g, run_s = losses(loss)
    ref_g, ref_s = losses()
    keep = g >= 0
    speech = keep & (g > SPEECH_BIN)
    per_frame = ops.convert_to_numpy(ref_g(np.where(speech, g, MASKED), pred_g))
    has_speech = speech.any(-1)
    db = lambda m: float(np.mean(20 * np.log10(np.maximum(pred_g[m], 1e-5)))) if m.any() else None  # noqa: E731
    return {"loss": mean(run_g(g, pred_g)) + loss.strength_weight * mean(run_s(s, pred_s)),
            "paper_loss": mean(ref_g(g, pred_g)) + mean(ref_s(s, pred_s)),
            "gain_loss": mean(ref_g(g, pred_g)),
            "noise_db": db(keep & (g < NOISE_BIN)), "speech_db": db(speech),
            "speech_loss": float(per_frame[has_speech].mean()) if has_speech.any() else None}


def _resume(out: Path, cfg: TrainConfig, state: dict, log):
    """The run's model and peak rate: from OUT's checkpoint (its recipe must be cfg's), else new."""
    import keras
    from edge.model import standardize

    ckpt = out / "checkpoint.keras"
    recipe = {"loss": asdict(cfg.loss), "weight_decay": cfg.weight_decay, "standardize": cfg.standardize}
    if state.get("recipe", recipe) != recipe:
        raise EdgeError(f"{out} trains with {state['recipe']}, not {recipe}: resume it as it was, "
                        "or start a new --out")
    state["recipe"] = recipe
    if not ckpt.is_file():
        return None, cfg.lr or 1e-3
    model = keras.models.load_model(ckpt, custom_objects=custom_objects(cfg.loss))
    if cfg.standardize != (standardize.of(model) is not None):
        raise EdgeError(f"{ckpt}: {'no ' if cfg.standardize else ''}input standardisation in the "
                        f"checkpoint, {'' if cfg.standardize else 'no '}standardisation asked")
    peak = cfg.lr or state.get("lr") or float(model.optimizer.learning_rate)
    wanted = "AdamW" if cfg.weight_decay else "Adam"
    optimizer = model.optimizer if type(model.optimizer).__name__ == wanted else _optimizer(cfg, peak)
    _compile(model, cfg, optimizer)
    log(f"resumed from {ckpt} at step {state['step']}")
    if cfg.lr is not None:
        log(f"learning rate set to {cfg.lr:g}")
    return model, peak


def train(features, gains, strengths, out_dir: str | Path, cfg: TrainConfig = TrainConfig(),
          log=print, val=None) -> dict:
    """Train (or resume from out_dir) on [N, T, 70] features and [N, T, 34] targets (MASKED
    where a band is left out). `val`: (features, gains, strengths) of a validation set made
    from other recordings, which then chooses best.keras; without it, a random share of the
    crops (which may share recordings with training)."""
    import keras
    from edge.model import standardize

    if cfg.steps is None and cfg.hours is None:
        raise EdgeError("give a budget: --steps N and/or --hours H")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x, g, s = crops(features, np.minimum(gains, 1), np.minimum(strengths, 1), cfg.seq_frames)
    rng = np.random.default_rng(cfg.seed)
    if val is not None:
        vx, vg, vs = crops(val[0], np.minimum(val[1], 1), np.minimum(val[2], 1), cfg.seq_frames)
        tr = np.arange(len(x))
    else:
        order = rng.permutation(len(x))
        n_val = max(1, int(len(x) * cfg.val_fraction)) if len(x) > 1 else 0
        (vx, vg, vs), tr = (a[order[:n_val]] for a in (x, g, s)), order[n_val:]
    if len(tr) == 0:
        raise EdgeError("not enough training data for one batch")
    state = read_state(out)
    model, peak = _resume(out, cfg, state, log)
    if model is None:
        keras.utils.set_random_seed(cfg.seed)  # the same seed, the same initial weights
        model = new_model(cfg, standardize.statistics(x[tr]) if cfg.standardize else None)
        if cfg.init:
            log(f"started from the weights of {cfg.init}")
    state["lr"] = peak
    if "sampler" in state:  # where the stopped run's batch order was
        rng.bit_generator.state = state["sampler"]
    start, last_ckpt = time.monotonic(), time.monotonic()
    batch = min(cfg.batch, len(tr))

    def save_checkpoint(figures):
        state["elapsed_s"] += time.monotonic() - save_checkpoint.mark
        save_checkpoint.mark = time.monotonic()
        state["sampler"] = rng.bit_generator.state
        model.save(out / "checkpoint.tmp.keras")
        (out / "checkpoint.tmp.keras").replace(out / "checkpoint.keras")
        v = figures and figures["loss"]
        if v is not None and (state["best_val"] is None or v < state["best_val"]):
            state["best_val"], state["best_step"] = v, state["step"]
            model.save(out / "best.tmp.keras")
            (out / "best.tmp.keras").replace(out / "best.keras")
        tmp = out / "state.tmp.json"
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(out / "state.json")
    save_checkpoint.mark = start

    seen = tr[:len(vx)]  # as many training crops as validation ones: the gap says how much is memorised

    def validate():
        if not len(vx):
            return None
        pred = lambda a: model.predict(a.astype(np.float32), batch_size=max(batch, 64), verbose=0)  # noqa: E731
        figures = measure(*pred(vx), vg.astype(np.float32), vs.astype(np.float32), cfg.loss)
        pg, ps = pred(x[seen])
        seen_loss = measure(pg, ps, g[seen].astype(np.float32), s[seen].astype(np.float32), cfg.loss)["gain_loss"]
        return {**figures, "seen_gain_loss": seen_loss, "gap": figures["gain_loss"] / seen_loss - 1}

    def record(figures, losses):
        entry = {"step": state["step"], "train": float(np.mean(losses)) if losses else None,
                 "val": figures and figures["loss"], **(figures or {})}
        state["history"].append(entry)
        return entry

    losses, t_mark, steps_mark = [], time.monotonic(), state["step"]
    while True:
        if cfg.steps is not None and state["step"] >= cfg.steps:
            break
        if cfg.hours is not None and time.monotonic() - start >= cfg.hours * 3600:
            break
        model.optimizer.learning_rate = learning_rate(cfg, peak, state["step"])
        idx = tr[rng.integers(0, len(tr), batch)]
        f32 = lambda a: a[idx].astype(np.float32)  # noqa: E731
        r = model.train_on_batch(f32(x), [f32(g), f32(s)])
        losses.append(float(r[0] if isinstance(r, list) else r))
        if not np.isfinite(losses[-1]):  # the weights in memory are lost; the saved ones are not
            raise EdgeError(f"step {state['step'] + 1}: the training loss is {losses[-1]}; stopped "
                            f"without saving over {out}")
        state["step"] += 1
        if time.monotonic() - last_ckpt >= cfg.checkpoint_s:
            fps = (state["step"] - steps_mark) * batch * cfg.seq_frames / (time.monotonic() - t_mark)
            e = record(validate(), losses)
            log(f"step {e['step']}: train loss {e['train']:.4f}, val loss {e['val']}, paper loss "
                f"{e.get('paper_loss')}, noise bins {e.get('noise_db')} dB, speech bins "
                f"{e.get('speech_db')} dB, unseen/seen gain-loss gap {e.get('gap')}, lr {float(model.optimizer.learning_rate):.3g}, {fps:.0f} frames/s")
            losses = []
            save_checkpoint(e)
            last_ckpt, t_mark, steps_mark = time.monotonic(), time.monotonic(), state["step"]
    e = record(validate(), losses)
    save_checkpoint(e)
    log(f"stopped at step {state['step']}: val loss {e['val']}")
    return state


def export(out_dir: str | Path, which: str = "best") -> dict:
    """The .tflite (int8 weights, float activations: edge.model.tflite_export) and the native
    .pnw of a checkpoint; no calibration data."""
    import keras
    from edge.model.tflite_export import to_tflite

    out = Path(out_dir)
    path = out / f"{which}.keras"
    if not path.is_file():
        path = out / "checkpoint.keras"
    if not path.is_file():
        raise EdgeError(f"{out}: no checkpoint to export")
    model = keras.models.load_model(path, custom_objects=custom_objects(), compile=False)
    config = read_config(out)
    tfl = out / "model.tflite"
    tfl.write_bytes(to_tflite(model, config))
    result = {"checkpoint": str(path), "tflite": str(tfl)}
    pnw.export(tfl, out / "model.pnw")
    result["pnw"] = str(out / "model.pnw")
    return result


def write_config(out_dir: str | Path, config) -> None:
    p = Path(out_dir) / "config.json"
    if p.is_file() and json.loads(p.read_text()) != config:
        raise EdgeError(f"{out_dir} holds a run of another model config "
                        f"({json.loads(p.read_text())}); use a new --out")
    p.write_text(json.dumps(config))


def read_config(out_dir: str | Path):
    p = Path(out_dir) / "config.json"
    return json.loads(p.read_text()) if p.is_file() else "small"
