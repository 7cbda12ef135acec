"""The ``cafetalk`` command: serve, generate, train, evaluate, convert takes, run the demo.

Sub-commands: serve | generate | train | train-head | train-closure | synth-data | evaluate |
tune | controls-from-text | demo | convert | batch.

Each sub-command parses its arguments here and hands them to one function of the module
that does the work, imported lazily so ``cafetalk --help`` stays instant and never loads torch.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .training.options import add_closure_arguments, add_head_arguments, add_train_arguments

# command -> (module, function, help). The function takes the parsed argparse.Namespace.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("cafetalk_core.server.app", "cli_serve", "run the HTTP inference server"),
    "generate": ("cafetalk_core.pipeline", "cli_generate", "audio + controls -> curves file (.csv/.json/.npz)"),
    "train": ("cafetalk_core.cli", "cli_train",
              "train stage 1 and/or stage 2 on data folders, or rebuild every shipped part with --recipe"),
    "train-head": ("cafetalk_core.training.head", "cli_train_head",
                   "train the head stage (head yaw/pitch/roll) on a corpus's head truth"),
    "train-closure": ("cafetalk_core.training.closure", "cli_train_closure",
                      "train the closure stage (where the lips meet) on a corpus's bilabial times"),
    "synth-data": ("cafetalk_core.data.corpus", "cli_synth_data", "generate the synthetic speech + curves corpus"),
    "evaluate": ("cafetalk_core.evaluation.corpus", "cli_evaluate", "evaluate a checkpoint (lip sync, emotion, control, real speech)"),
    "tune": ("cafetalk_core.cli", "cli_tune",
             "choose a checkpoint's audio guidance scale and steps on the real-speech validation set"),
    "controls-from-text": ("cafetalk_core.controls.text", "cli_controls_from_text", "free text -> fine controls JSON"),
    "demo": ("cafetalk_core.demo.run", "cli_demo", "generate a take on the demo head, render a preview MP4 and plots"),
    "convert": ("cafetalk_core.formats.command", "cli_convert",
                "convert a take between Live Link CSV, cafetalk JSON, npz and Audio2Face JSON (reads Rhubarb too)"),
    "batch": ("cafetalk_core.batch.command", "cli_batch",
              "every line of a manifest (CSV/JSON lines) to a take: local process pool or a Ray cluster, resumable"),
}


def _add_generate(p: argparse.ArgumentParser) -> None:
    p.add_argument("audio", help="speech audio file (wav/flac/ogg; resampled to 16 kHz mono)")
    p.add_argument("--out", required=True, help="output file: .csv (Live Link Face), .json or .npz")
    p.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--emotion", default="neutral", help="one of MEAD's 8 emotions (default: neutral)")
    p.add_argument("--intensity", type=float, default=0.5, help="emotion intensity in [0, 1] (default: 0.5)")
    p.add_argument("--control", action="append", default=[], metavar="ACTION:START-END[:INTENSITY]",
                   help="fine control, repeatable, e.g. AU12:1.2-2.0:0.8")
    p.add_argument("--controls-json", default=None,
                   help='a ControlSet JSON file (overrides --emotion/--control), e.g. {"emotion": "happy", '
                        '"fine": [{"action": "AU12", "start_s": 1.2, "end_s": 2.0}], '
                        '"head_spans": [{"start_s": 2.0, "end_s": 3.0, "amount": 0}]}')
    p.add_argument("--text", default=None, help="controls in words, e.g. 'smile at the end'")
    p.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the model's)")
    p.add_argument("--audio-scale", type=float, default=None, help="CFG scale a for audio + coarse")
    p.add_argument("--control-scale", type=float, default=None, help="CFG scale b for fine controls")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fps", type=float, default=None, help="output frame rate (default: the model's)")
    p.add_argument("--head-motion", type=float, default=1.0,
                   help="head motion amount: 0 = still head, 1 = as learned (default), up to 2; "
                        "the controls' head_spans set their own amount on their frames")
    p.add_argument("--language", default=None, metavar="TAG",
                   help="speech language, default English (en); other languages (zh, de, ...) read the mouth "
                        "from acoustics alone; needs a model trained for it")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")


def _add_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="bind address (non-loopback requires --token)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--token", default=None, help="bearer token (or CAFETALK_TOKEN); required off loopback")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--max-queue", type=int, default=8)
    p.add_argument("--max-audio-s", type=float, default=300.0)
    p.add_argument("--max-upload-mb", type=float, default=50.0)
    p.add_argument("--job-ttl-s", type=float, default=3600.0, help="finished jobs are forgotten after this")
    p.add_argument("--max-batch", type=int, default=None,
                   help="jobs sampled together (dynamic batching; default 8 on a GPU, 1 on a CPU)")
    p.add_argument("--batch-wait-ms", type=float, default=20.0,
                   help="how long a job waits for others to share its batch (default 20 ms)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="ray: run as a Ray Serve application (one URL, model replicas on the cluster; docs/server.md)")
    p.add_argument("--address", default=None, help="--engine ray: the Ray cluster (HEAD:6379 or 'auto')")
    p.add_argument("--replicas", type=int, default=None,
                   help="--engine ray: model replicas (default: one per GPU of the cluster, else 1)")
    p.add_argument("--random-model", action="store_true", help=argparse.SUPPRESS)  # tests/CI: untrained tiny model


def _add_synth(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--hours", type=float, default=1.0, help="hours of speech to generate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="parallel processes (default: all cores)")
    p.add_argument("--fps", type=float, default=30.0)


def _add_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", nargs="?", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--data", default=None, help="corpus folder; its test split is used")
    p.add_argument("--split", default="test", choices=("test", "val"),
                   help="corpus split to score (val: for choosing settings; emotion accuracy is then optimistic)")
    p.add_argument("--real", action="store_true", help="also evaluate on the bundled real-speech set")
    p.add_argument("--real-captures", nargs="*", default=None, metavar="DIR",
                   help="captured faces (take.wav|flac + take.csv Live Link; dataset.json for splits and channels); "
                        "no DIR: datasets/facegood")
    p.add_argument("--capture-split", default="test", choices=("test", "val"),
                   help="which takes of a folder with dataset.json (val: for choosing settings)")
    p.add_argument("--compare-model", default=None, metavar="PATH",
                   help="a second checkpoint run side by side (default: models/synthetic_only_v1 where it exists; "
                        "'none' to skip)")
    p.add_argument("--languages", nargs="*", default=None, metavar="LANG",
                   help="closure and false seals on espeak-ng speech in other languages (no LANG: all of "
                        "de fr es it pt ru pl); cached")
    p.add_argument("--languages-split", default="test", choices=("test", "val"),
                   help="which sentences --languages speaks (val: other sentences, for choosing settings)")
    p.add_argument("--motion-captures", action="store_true",
                   help="only the product vs the held-out NeuroSync captures (datasets/neurosync): blinks, saccades, "
                        "head, each action's co-activation, emotion (uses --real-set and --action-clips)")
    p.add_argument("--real-set", default="test",
                   help="real-speech set: test (default; the README's figures), val (for choosing settings) or a folder")
    p.add_argument("--out", default=None, help="write the report JSON here")
    p.add_argument("--max-clips", type=int, default=None)
    p.add_argument("--no-actions", action="store_true", help="skip the per-action fine-control tables")
    p.add_argument("--action-clips", type=int, default=4, help="corpus clips per action in the per-action table")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--audio-scale", type=float, default=None, help="audio guidance scale (default: the checkpoint's)")
    p.add_argument("--degrade", default=None, choices=("pink-10db", "white-20db", "reverb-0.6s", "telephone"),
                   help="degrade the real-speech audio first (robustness)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classifier", default=None,
                   help="emotion classifier folder: loaded if it exists, else trained on the corpus and saved there")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")


def _add_tune(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", nargs="?", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--set", default="val", help="real-speech set: val (default), test or a folder")
    p.add_argument("--scales", default="1,1.5,2,2.5,3,4", help="audio guidance scales to try, comma-separated")
    p.add_argument("--steps", default="8,10", help="DDIM step counts to try, comma-separated")
    p.add_argument("--seeds", type=int, default=2, help="seeds per setting (0..N-1)")
    p.add_argument("--write", action="store_true", help="store the chosen setting in the checkpoint's config.json")
    p.add_argument("--phone-free", action="store_true",
                   help="tune the defaults for speech in other languages (phone_free_steps, phone_free_audio_scale) "
                        "on the capture val takes and the multilingual val speech; --set is not read")
    p.add_argument("--captures", nargs="+", default=None,
                   help="with --phone-free: capture folders whose val takes score the mouth (default: datasets/facegood)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a shared CPU)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")


def _add_text(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="controls in words, e.g. 'smile from 1.2 to 2 s, blink twice near the end'")
    p.add_argument("--duration", type=float, required=True, help="clip duration in seconds")
    p.add_argument("--transcript", default=None, help="JSON with word times: [[word, start_s, end_s], ...]")


def _add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo_out", help="output folder")
    p.add_argument("--audio", default=None, help="your own speech WAV (default: a clip made with espeak-ng)")
    p.add_argument("--emotion", default="happy")
    p.add_argument("--intensity", type=float, default=0.6)
    p.add_argument("--text", default=None, help="controls in words")
    p.add_argument("--in-process", action="store_true", help="run the model in process instead of the server")
    p.add_argument("--frames", type=int, default=None, help="render only this many frames (quick look)")
    p.add_argument("--resolution", default="480x360")
    p.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--random-model", action="store_true",
                   help="use a random untrained model (tests; the default when no checkpoint exists)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the model's)")
    p.add_argument("--sentence", default=None, help="what espeak-ng says when --audio is not given")
    p.add_argument("--engine", choices=["workbench", "cycles"], default="workbench", help="render engine")


ARGUMENTS = {
    "serve": _add_serve, "generate": _add_generate, "train": add_train_arguments, "synth-data": _add_synth,
    "evaluate": _add_evaluate, "tune": _add_tune, "controls-from-text": _add_text, "demo": _add_demo,
    "convert": lambda p: importlib.import_module("cafetalk_core.formats.command").add_arguments(p),
    "batch": lambda p: importlib.import_module("cafetalk_core.batch.command").add_arguments(p),
    "train-head": add_head_arguments,
    "train-closure": add_closure_arguments,
}


def cli_tune(args: argparse.Namespace) -> int:
    """``cafetalk tune``: English (with phones) by default, ``--phone-free`` for other languages."""
    if args.phone_free:
        from .evaluation.tuning_phone_free import cli_tune_phone_free
        return cli_tune_phone_free(args)
    from .evaluation.tuning import cli_tune as tune_english
    return tune_english(args)


def cli_train(args: argparse.Namespace) -> int:
    """``cafetalk train``: one stage run, or with ``--recipe`` every shipped part in order (training/recipe.py).
    The recipe's tuning step lives in evaluation/, above training, so it is handed in from here."""
    if args.recipe:
        from .evaluation.aperture_gain import recipe_aperture_gain
        from .evaluation.closure_threshold import recipe_closure_threshold
        from .evaluation.fit_motion_rules import recipe_head_fit
        from .evaluation.tuning import recipe_tune
        from .evaluation.tuning_phone_free import recipe_tune_phone_free
        from .training.recipe import cli_recipe
        return cli_recipe(args, {"tune": recipe_tune, "closure_threshold": recipe_closure_threshold,
                                 "head_fit": recipe_head_fit, "tune_phone_free": recipe_tune_phone_free,
                                 "aperture_gain": recipe_aperture_gain})
    from .training.denoiser import cli_train as train_stages
    return train_stages(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cafetalk", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"cafetalk {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, _, help_text) in COMMANDS.items():
        ARGUMENTS[name](sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module, func, _ = COMMANDS[args.command]
    handler = getattr(importlib.import_module(module), func)
    try:
        return int(handler(args) or 0)
    except ValueError as exc:
        # Audio that cannot be read, a bad control and a language the model cannot take are one line
        # and exit 2 in every sub-command, not a traceback. (Imported here: by the time such an error
        # exists, its module is loaded.)
        from .audio.frontend import LanguageError
        from .audio.io import AudioError
        from .controls.errors import ControlError
        if isinstance(exc, (AudioError, LanguageError)):
            print(f"cafetalk {args.command}: error: {exc}", file=sys.stderr)
        elif isinstance(exc, ControlError):
            print(f"cafetalk {args.command}: bad control: {exc}", file=sys.stderr)
        else:
            raise
        return 2


if __name__ == "__main__":
    sys.exit(main())
