"""The options of ``cafetalk train`` and ``python -m cafetalk_core.training.denoiser``: one definition for both.

Kept apart from training/denoiser.py so that ``cafetalk --help`` never imports torch, and so that training/denoiser.py
does not import the CLI (the CLI sits on top of everything; see docs/architecture.md).
Add a new training or model option here and both commands get it.
"""
from __future__ import annotations

import argparse


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Every training option, grouped: what to train, the optimiser, the data, the run."""
    what = p.add_argument_group("what to train")
    what.add_argument("--data", required=True, nargs="+",
                      help="data folders: synth-data output, wav/flac + Live Link CSV pairs, converted real captures")
    what.add_argument("--out", required=True, help="output checkpoint folder")
    what.add_argument("--recipe", default=None, metavar="NAME|FILE",
                      help="rebuild every shipped part in order (training/recipes/NAME.json: default, tiny); "
                           "--data names the synthetic corpus and the real capture folders, --out the model folder")
    what.add_argument("--stage", choices=["1", "2", "both"], default="both")
    what.add_argument("--config", default="small", help="model size: small | paper | tiny | a JSON file")
    what.add_argument("--front-end", default="phonetic-viseme-mel-v1", help="audio front end id for a new model")
    what.add_argument("--fps", type=float, default=30.0, help="frame rate of a new model")
    what.add_argument("--init", default=None, help="checkpoint to start from (stage 2 needs a stage-1 one)")
    what.add_argument("--resume", action="store_true", help="resume from --out if it holds a checkpoint")

    opt = p.add_argument_group("optimisation")
    opt.add_argument("--steps", type=int, default=2000, help="stage-1 steps")
    opt.add_argument("--stage2-steps", type=int, default=None, help="stage-2 steps (default: steps / 2)")
    opt.add_argument("--batch-size", type=int, default=32, help="per process")
    opt.add_argument("--lr", type=float, default=1e-4)
    opt.add_argument("--stage2-lr", type=float, default=None, help="stage-2 learning rate (default: --lr)")
    opt.add_argument("--warmup", type=int, default=200, help="linear warm-up steps before the cosine decay")
    opt.add_argument("--clip", type=float, default=1.0, help="gradient clipping norm")
    opt.add_argument("--p-swap", type=float, default=0.5, help="swap-label share in stage-2 swap batches")
    opt.add_argument("--p-drop-controls", type=float, default=0.8, help="stage 2: drop each control span")
    opt.add_argument("--high-t-share", type=float, default=0.0,
                     help="share of rows trained at the top tenth of the noise schedule (the 1-step regression)")

    data = p.add_argument_group("data")
    data.add_argument("--data-weights", type=float, nargs="+", default=None,
                      help="one sampling weight per --data folder (default 1 each; windows per clip x weight)")
    data.add_argument("--window-frames", type=int, default=None, help="training window (default: model max_frames)")
    data.add_argument("--p-recog", type=float, default=0.5, help="share of samples using recogniser phones")
    data.add_argument("--p-drop-phones", type=float, default=0.0,
                      help="share of samples with the phone columns zeroed (the model then also runs on "
                           "speech in other languages; takes whose card names another language always are)")
    data.add_argument("--styles", action="store_true",
                      help="learn a style token per training source (the corpus, each capture set): the real "
                           "takes stop pulling the corpus's mouth their way (model/config.py)")
    data.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    data.add_argument("--precompute-workers", type=int, default=2,
                      help="processes for the recogniser cache (0 = lazy)")

    run = p.add_argument_group("run")
    run.add_argument("--device", default="auto", help="auto | cpu | cuda (torchrun: one GPU per process)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    run.add_argument("--eval-every", type=int, default=500, help="validate and checkpoint every N steps")
    run.add_argument("--log-every", type=int, default=50)
    run.add_argument("--progress", action="store_true", help="print JSON log lines (for non-tty logs)")


def add_head_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``cafetalk train-head`` / ``python -m cafetalk_core.training.head`` (no torch: the CLI parser stays light)."""
    p.add_argument("--data", required=True, help="synthetic corpus folder (cafetalk synth-data)")
    p.add_argument("--out", required=True, help="output folder (last/ and best/ checkpoints, log.jsonl)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--frames", type=int, default=150, help="training window in frames")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", default="auto", help="torch threads ('auto' picks from the cores)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last")


def add_closure_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``cafetalk train-closure`` / ``python -m cafetalk_core.training.closure``."""
    p.add_argument("--data", required=True, help="synthetic corpus folder (cafetalk synth-data)")
    p.add_argument("--out", required=True, help="output folder (last/ and best/, log.jsonl)")
    p.add_argument("--checkpoint", default=None, help="the model whose front end feeds the detector (default: shipped)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--frames", type=int, default=120, help="training window in frames")
    p.add_argument("--width", type=int, default=64, help="convolution channels")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--noise", type=float, default=0.1, help="input noise, in feature standard deviations")
    p.add_argument("--p-drop-phones", type=float, default=0.0,
                   help="share of training windows with the phone columns zeroed (a detector for phone-free input too)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", default="auto", help="torch threads ('auto' picks from the cores)")
