"""Training the PercepNet network: resumable, checkpointed, bounded by steps or hours.

OUT holds: features/ (cached shards), checkpoint.keras (model + optimizer, every few
minutes), best.keras (lowest validation loss), state.json (step, elapsed time, losses),
and after export model.tflite (int8) and model.pnw (native weights)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import EdgeError


@dataclass
class TrainConfig:
    config: str | dict = "small"
    steps: int | None = None          # stop after this many optimizer steps in total
    hours: float | None = None        # stop after this much wall-clock time in this run
    batch: int = 32
    seq_frames: int = 200             # frames per training sequence (crops of the examples)
    lr: float | None = None           # None: 1e-3 for a new model, the checkpoint's on resume
    checkpoint_s: float = 300.0
    val_fraction: float = 0.05       # of the crops, when no validation set is given
    seed: int = 0


def _custom_objects():
    from edge.model import loss
    return {"gain_loss": loss.gain_loss, "strength_loss": loss.strength_loss}


def new_model(cfg: TrainConfig):
    import keras
    from edge.model.arch import build_model
    from edge.model.loss import gain_loss, strength_loss

    model = build_model(cfg.config)
    model.compile(optimizer=keras.optimizers.Adam(cfg.lr or 1e-3, clipnorm=1.0),
                  loss=[gain_loss, strength_loss])
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


def train(features, gains, strengths, out_dir: str | Path, cfg: TrainConfig = TrainConfig(),
          log=print, val=None) -> dict:
    """Train (or resume from out_dir) on [N, T, 70] features and [N, T, 34] targets (MASKED
    where a band is left out). `val`: (features, gains, strengths) of a validation set made
    from other recordings, which then chooses best.keras; without it, a random share of the
    crops (which may share recordings with training)."""
    import keras

    if cfg.steps is None and cfg.hours is None:
        raise EdgeError("give a budget: --steps N and/or --hours H")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x, g, s = crops(features, np.minimum(gains, 1), np.minimum(strengths, 1), cfg.seq_frames)
    rng = np.random.default_rng(cfg.seed)
    if val is not None:
        vx, vg, vs = crops(val[0], np.minimum(val[1], 1), np.minimum(val[2], 1), cfg.seq_frames)
        x, g, s = np.concatenate([x, vx]), np.concatenate([g, vg]), np.concatenate([s, vs])
        tr, val = np.arange(len(x) - len(vx)), np.arange(len(x) - len(vx), len(x))
    else:
        order = rng.permutation(len(x))
        n_val = max(1, int(len(x) * cfg.val_fraction)) if len(x) > 1 else 0
        val, tr = order[:n_val], order[n_val:]
    n_val = len(val)
    if len(tr) == 0:
        raise EdgeError("not enough training data for one batch")
    state = read_state(out)
    ckpt = out / "checkpoint.keras"
    if ckpt.is_file():
        model = keras.models.load_model(ckpt, custom_objects=_custom_objects())
        log(f"resumed from {ckpt} at step {state['step']}")
        if cfg.lr is not None:
            model.optimizer.learning_rate = cfg.lr
            log(f"learning rate set to {cfg.lr:g}")
    else:
        keras.utils.set_random_seed(cfg.seed)  # the same seed, the same initial weights
        model = new_model(cfg)
    start, last_ckpt = time.monotonic(), time.monotonic()
    batch = min(cfg.batch, len(tr))

    def save_checkpoint(val_loss):
        state["elapsed_s"] += time.monotonic() - save_checkpoint.mark
        save_checkpoint.mark = time.monotonic()
        model.save(out / "checkpoint.tmp.keras")
        (out / "checkpoint.tmp.keras").replace(ckpt)
        if val_loss is not None and (state["best_val"] is None or val_loss < state["best_val"]):
            state["best_val"] = val_loss
            model.save(out / "best.tmp.keras")
            (out / "best.tmp.keras").replace(out / "best.keras")
        (out / "state.json").write_text(json.dumps(state, indent=1))
    save_checkpoint.mark = start

    def validate():
        if not n_val:
            return None
        r = model.evaluate(x[val], [g[val], s[val]], batch_size=batch, verbose=0)
        return float(r[0] if isinstance(r, list) else r)

    losses = []
    while True:
        if cfg.steps is not None and state["step"] >= cfg.steps:
            break
        if cfg.hours is not None and time.monotonic() - start >= cfg.hours * 3600:
            break
        idx = tr[rng.integers(0, len(tr), batch)]
        r = model.train_on_batch(x[idx], [g[idx], s[idx]])
        losses.append(float(r[0] if isinstance(r, list) else r))
        if not np.isfinite(losses[-1]):  # the weights in memory are lost; the saved ones are not
            raise EdgeError(f"step {state['step'] + 1}: the training loss is {losses[-1]}; stopped "
                            f"without saving over {out}")
        state["step"] += 1
        if time.monotonic() - last_ckpt >= cfg.checkpoint_s:
            v = validate()
            state["history"].append({"step": state["step"], "train": float(np.mean(losses)), "val": v})
            log(f"step {state['step']}: train loss {np.mean(losses):.4f}, val loss {v}")
            losses = []
            save_checkpoint(v)
            last_ckpt = time.monotonic()
    v = validate()
    state["history"].append({"step": state["step"], "train": float(np.mean(losses)) if losses else None,
                             "val": v})
    save_checkpoint(v)
    log(f"stopped at step {state['step']}: val loss {v}")
    return state


def export(out_dir: str | Path, features, which: str = "best", max_frames: int = 1200) -> dict:
    """int8 .tflite (calibrated on up to 16 whole sequences of `features` [N, T, 70], after a
    warm-up) and native .pnw of a checkpoint."""
    import keras
    from edge.model.tflite_export import to_tflite_int8

    out = Path(out_dir)
    path = out / f"{which}.keras"
    if not path.is_file():
        path = out / "checkpoint.keras"
    if not path.is_file():
        raise EdgeError(f"{out}: no checkpoint to export")
    model = keras.models.load_model(path, custom_objects=_custom_objects())
    config = read_config(out)
    seqs = [np.asarray(f, np.float32) for f in features[:16]]
    tfl = out / "model.tflite"
    tfl.write_bytes(to_tflite_int8(model, config, seqs, max_frames))
    result = {"checkpoint": str(path), "tflite": str(tfl)}
    pnw = out / "model.pnw"
    from edge.export import export as export_pnw
    export_pnw(tfl, pnw)
    result["pnw"] = str(pnw)
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
