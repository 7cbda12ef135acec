"""One command rebuilds every shipped part: ``cafetalk train --recipe default --data ... --out DIR``.

A recipe (``training/recipes/<name>.json``, or any JSON file of the same shape) lists the steps that
made the shipped model, in order, each with its trainer and options:

``denoiser``  stage 1 (and 2) of the diffusion model (training/denoiser.py), on the synthetic corpus
              and/or real captures; ``init`` names an earlier step whose checkpoint it starts from
``flags``     the shipped model's after-sampling switches (signature prior, motion and blink stages,
              CFG form) written into a copy of an earlier step's checkpoint: this is ``OUT/`` itself
``closure``   the closure stage (training/closure.py) -> ``OUT/closure``
``head``      the head stage (training/head.py) -> ``OUT/head``
``text_head`` free text -> controls (training/text_head.py) -> ``OUT/text_head.{safetensors,json}``
``tune``      sampling defaults chosen on the real-speech validation set (``cafetalk tune --write``);
              evaluation sits above training in the layers, so the command passes it in (``finishers``)
``closure_threshold``  the closure stage's rule 4 (threshold and loudness gate) for one input, chosen
              on validation speech: English real speech with phones, other languages phone-free
              (evaluation/closure_threshold.py; a finisher too)
``tune_phone_free``  the sampling defaults for speech in other languages (phone-free input), chosen on
              the capture validation takes and the multilingual validation speech
              (evaluation/tuning_phone_free.py; a finisher too)
``aperture_gain``  the lip aperture gain for phone-free input, fitted to the capture validation takes'
              spread (evaluation/aperture_gain.py; a finisher too)
``head_fit``  the head stage's per-axis fit to a real speaker's head track, on the real-speech validation
              clips (evaluation/fit_motion_rules.py; a finisher too)

Data: ``--data`` folders are assigned by what they are: a folder with a ``dataset.json`` card is a real
capture set (``real``), any other is the synthetic corpus (``corpus``); a step's ``data`` lists the roles
it trains on. Every step writes into ``OUT/work/<step>/`` (``OUT/`` for ``flags``) and marks itself done,
so an interrupted rebuild continues where it stopped. ``OUT/recipe.json`` records the recipe, the data
folders (relative paths) and their sources, the front end and the commit.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..data.records import read_dataset_card
from .denoiser import recorded_paths

RECIPES_DIR = Path(__file__).with_name("recipes")
TRAINERS = ("denoiser", "flags", "closure", "head", "text_head", "tune", "closure_threshold", "tune_phone_free",
            "aperture_gain", "head_fit")
FINISHED_ABOVE = ("tune", "closure_threshold", "tune_phone_free", "aperture_gain", "head_fit")   # steps whose code lives in evaluation/, handed in as finishers
DONE = ".done"

#: A finisher runs a step that lives above training in the layers (FINISHED_ABOVE): (step, checkpoint dir).
Finisher = Callable[["RecipeStep", Path], dict[str, Any]]


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the step and the field."""


@dataclass(frozen=True)
class RecipeStep:
    name: str
    trainer: str
    options: dict[str, Any] = field(default_factory=dict)
    data: tuple[str, ...] = ()
    init: str | None = None


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    steps: tuple[RecipeStep, ...]
    source: Path | None = None


def load_recipe(spec: str | Path) -> Recipe:
    """A recipe by name (``default``, ``tiny``) or by path; every field is checked before anything runs."""
    path = Path(spec) if str(spec).endswith(".json") else RECIPES_DIR / f"{spec}.json"
    if not path.is_file():
        names = sorted(p.stem for p in RECIPES_DIR.glob("*.json"))
        raise RecipeError(f"recipe {spec!r}: no such file {path} (recipes: {', '.join(names)})")
    raw = json.loads(path.read_text())
    steps, seen = [], set()
    for i, s in enumerate(raw.get("steps") or []):
        where = f"recipe {path.name}: steps[{i}]"
        name, trainer = s.get("name"), s.get("trainer")
        if not name or name in seen:
            raise RecipeError(f"{where}: name {name!r} is missing or used twice")
        if trainer not in TRAINERS:
            raise RecipeError(f"{where} ({name}): trainer {trainer!r} is not one of {TRAINERS}")
        if s.get("init") is not None and s["init"] not in seen:
            raise RecipeError(f"{where} ({name}): init {s['init']!r} is not an earlier step")
        for role in s.get("data") or []:
            if role not in ("corpus", "real"):
                raise RecipeError(f"{where} ({name}): data role {role!r} is not corpus or real")
        seen.add(name)
        steps.append(RecipeStep(name, trainer, dict(s.get("options") or {}), tuple(s.get("data") or ()), s.get("init")))
    if not steps:
        raise RecipeError(f"recipe {path.name}: no steps")
    return Recipe(raw.get("name", path.stem), raw.get("description", ""), tuple(steps), path)


def assign_roles(folders: list[str | Path]) -> dict[str, list[Path]]:
    """``real``: folders with a ``dataset.json`` card; ``corpus``: the others (synth-data output)."""
    roles: dict[str, list[Path]] = {"corpus": [], "real": []}
    for f in map(Path, folders):
        if not f.is_dir():
            raise RecipeError(f"--data {f}: no such folder")
        roles["real" if (f / "dataset.json").is_file() else "corpus"].append(f)
    return roles


def step_dir(out: Path, step: RecipeStep) -> Path:
    return out if step.trainer == "flags" else out / "work" / step.name


def run_recipe(recipe: Recipe, folders: list[str | Path], out: str | Path,
               finishers: dict[str, Finisher] | None = None, log: Callable[[str], None] = print) -> Path:
    """Run every step not yet done, in order; returns ``out`` (the shipped-model folder)."""
    out = Path(out)
    roles = assign_roles(folders)
    out.mkdir(parents=True, exist_ok=True)
    record = _record(recipe, roles)
    done_dirs: dict[str, Path] = {}
    for step in recipe.steps:
        target = step_dir(out, step)
        done_dirs[step.name] = target
        if (target / DONE).is_file():
            log(f"[recipe] {step.name}: done before, skipped")
            record["steps"].append({"name": step.name, "skipped": True})
            continue
        data = [p for role in step.data for p in roles[role]]
        if step.data and not data:
            raise RecipeError(f"step {step.name}: needs {' + '.join(step.data)} data; --data gave "
                              f"corpus {roles['corpus'] or 'none'}, real {roles['real'] or 'none'}")
        init = done_dirs[step.init] if step.init else None
        log(f"[recipe] {step.name}: {step.trainer} on {', '.join(map(str, data)) or 'no data'}"
            + (f" from {step.init}" if init else ""))
        result = _run_step(step, data, init, target, out, finishers or {})
        target.mkdir(parents=True, exist_ok=True)
        (target / DONE).write_text("done\n")
        record["steps"].append({"name": step.name, "trainer": step.trainer, "data": recorded_paths(data),
                                "init": step.init, "options": step.options, "result": result})
        (out / "recipe.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    (out / "recipe.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return out


def _run_step(step: RecipeStep, data: list[Path], init: Path | None, target: Path, out: Path,
              finishers: dict[str, Finisher]) -> dict[str, Any]:
    if step.trainer == "denoiser":
        from .denoiser import build_parser, run
        argv = ["--data", *map(str, data), "--out", str(target), "--resume"] + (["--init", str(init)] if init else [])
        args = build_parser().parse_args(argv + _flags(step.options))
        run(args)
        return {"checkpoint": recorded_paths(target)[0]}
    if step.trainer == "flags":
        return _write_flags(init, out, step.options)
    if step.trainer == "closure":
        from .closure import build_parser as closure_parser, train_closure
        checkpoint = init or out
        args = closure_parser().parse_args(["--data", str(data[0]), "--out", str(target), "--checkpoint", str(checkpoint)]
                                           + _flags(step.options))
        best = train_closure(args)
        _replace_dir(best, out / "closure")
        return {"installed": "closure"}
    if step.trainer == "head":
        from .head import build_parser as head_parser, train_head
        best = train_head(head_parser().parse_args(["--data", str(data[0]), "--out", str(target)] + _flags(step.options)))
        _replace_dir(best, out / "head")
        return {"installed": "head"}
    if step.trainer == "text_head":
        from .text_head import train as train_text_head
        config = train_text_head(out=out / "text_head.safetensors", config_out=out / "text_head.json", verbose=False,
                                 **step.options)
        return {"installed": "text_head", "validation": {k: v for k, v in config["training"].items() if k.startswith("val_")}}
    if step.trainer in FINISHED_ABOVE:
        if step.trainer not in finishers:
            raise RecipeError(f"step {step.name}: the {step.trainer} step needs the command's finisher "
                              "(run it with cafetalk train --recipe)")
        return finishers[step.trainer](step, out)
    raise RecipeError(f"step {step.name}: unknown trainer {step.trainer!r}")


def _flags(options: dict[str, Any]) -> list[str]:
    """Options dict -> command-line flags (``True`` -> a bare flag; lists -> several values)."""
    argv: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv


def _write_flags(init: Path | None, out: Path, flags: dict[str, Any]) -> dict[str, Any]:
    """Copy the ``init`` checkpoint into ``out`` with the model-config switches set."""
    from ..model.checkpoint import held_stage1_steps, load_checkpoint, read_config, save_checkpoint
    if init is None:
        raise RecipeError("the flags step needs init: the checkpoint it switches")
    ck = load_checkpoint(init)
    unknown = sorted(set(flags) - set(ck.config.to_dict()))
    if unknown:
        raise RecipeError(f"flags: {unknown} are not model config fields")
    ck.model.cfg = ck.config.replace(**flags)
    held = held_stage1_steps(read_config(init))
    save_checkpoint(out, ck.model, step=ck.step, stage=2 if flags.get("control_prior") else ck.stage,
                    front_end=ck.front_end, train=ck.train, stage1_step=held)
    return {"from": recorded_paths(init)[0], "step": ck.step, "stage1_steps_held": held, "flags": flags}


def _replace_dir(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)


def _record(recipe: Recipe, roles: dict[str, list[Path]]) -> dict[str, Any]:
    sources = {}
    for f in roles["real"]:
        card = read_dataset_card(f)
        sources[recorded_paths(f)[0]] = {k: card.get(k) for k in ("name", "source", "licence", "splits")}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip() or None
    front_ends = sorted({s.options["front_end"] for s in recipe.steps if "front_end" in s.options})
    return {"recipe": recipe.name, "description": recipe.description,
            "recipe_file": recipe.source.name if recipe.source else None, "commit": commit,
            "data": {role: recorded_paths(paths) for role, paths in roles.items()},
            "data_sources": sources, "front_end": front_ends, "steps": []}


def cli_recipe(args: Namespace, finishers: dict[str, Finisher]) -> int:
    """``cafetalk train --recipe NAME``: run it, say where the model is."""
    try:
        recipe = load_recipe(args.recipe)
        out = run_recipe(recipe, args.data, args.out, finishers)
    except RecipeError as exc:
        print(f"cafetalk train: {exc}", file=sys.stderr)
        return 2
    print(f"[recipe] {recipe.name}: the model is in {out} (record: {out / 'recipe.json'})")
    return 0
