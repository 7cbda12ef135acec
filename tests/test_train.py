"""Training: both stages run, checkpoints load, resume continues, DDP keeps ranks identical."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cafetalk_core.data.corpus import generate_corpus  # noqa: F401  (import check)
from cafetalk_core.model import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    subprocess.run([sys.executable, "-m", "cafetalk_core.cli", "synth-data", "--out", str(out), "--hours", "0.006",
                    "--seed", "5", "--workers", "1"], check=True, capture_output=True, cwd=ROOT)
    assert len(list(out.glob("*.wav"))) >= 3
    return out


def _train(args: list[str], env_extra: dict | None = None, torchrun: int = 0,
           entry: tuple[str, ...] = ("-m", "cafetalk_core.training.denoiser")) -> subprocess.CompletedProcess:
    """Run training in a subprocess: ``entry`` is the module (or ``-m cafetalk_core.cli train``)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={torchrun}"] if torchrun else []
    cmd = [sys.executable, *launcher, *entry, *args]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return res


COMMON = ["--config", "tiny", "--front-end", "logmel-v1", "--batch-size", "2", "--window-frames", "60",
          "--warmup", "1", "--log-every", "1", "--precompute-workers", "0", "--threads", "1"]


def test_two_stages_checkpoint_and_resume(corpus, tmp_path):
    out = tmp_path / "run"
    _train(["--data", str(corpus), "--out", str(out), "--steps", "3", "--stage2-steps", "2", "--eval-every", "2", *COMMON])
    s1, s2 = load_checkpoint(out / "stage1"), load_checkpoint(out)
    assert (s1.stage, s1.step, s1.model.control is None) == (1, 3, True)
    assert (s2.stage, s2.step, s2.model.control is not None) == (2, 2, True)
    # stage 2 kept the stage-1 base frozen: every base weight is unchanged
    base1 = s1.model.state_dict()
    for k, v in s2.model.state_dict().items():
        if not k.startswith("control."):
            assert (v == base1[k]).all(), k
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any("val_loss" in r for r in logs) and all(r.get("loss", 0) == r.get("loss", 0) for r in logs)
    assert (out / "train_config.json").is_file() and (out / "optimizer.safetensors").is_file()
    # resume stage 2 to more steps through `cafetalk train` (same options): starts from step 2, not 0
    res = _train(["--data", str(corpus), "--out", str(out), "--stage", "2", "--resume", "--steps", "3",
                  "--stage2-steps", "4", "--eval-every", "2", *COMMON], entry=("-m", "cafetalk_core.cli", "train"))
    assert "resuming" in res.stdout and load_checkpoint(out).step == 4


def test_ddp_two_cpu_processes_end_identical(corpus, tmp_path):
    out = tmp_path / "ddp"
    _train(["--data", str(corpus), "--out", str(out), "--stage", "1", "--steps", "3", "--eval-every", "3",
            "--device", "cpu", *COMMON], torchrun=2)
    check = json.loads((out / "ddp_check.json").read_text())
    assert check["world_size"] == 2 and check["identical"]
    a, b = check["fingerprints"]
    assert a == b and a[0] != 0
    assert load_checkpoint(out).step == 3


def test_cafetalk_train_and_module_take_the_same_options():
    """`cafetalk train` and `python -m cafetalk_core.training.denoiser` parse one definition (training/options.py)."""
    from cafetalk_core import cli
    from cafetalk_core.training import denoiser as train

    argv = ["--data", "d", "--out", "o", "--fps", "25", "--front-end", "logmel-v1", "--stage2-steps", "7",
            "--stage2-lr", "3e-4", "--window-frames", "50", "--p-swap", "0.3", "--warmup", "4", "--threads", "1"]
    from_cli = vars(cli.build_parser().parse_args(["train", *argv]))
    assert from_cli.pop("command") == "train"
    from_module = vars(train.build_parser().parse_args(argv))
    assert from_cli == from_module
    assert (from_cli["fps"], from_cli["front_end"], from_cli["stage2_steps"]) == (25.0, "logmel-v1", 7)


def test_stage_plan():
    """--stage both: stage 2 starts from OUT/stage1; --stage 2 alone needs --init (or a resumable OUT)."""
    from cafetalk_core.training.denoiser import build_parser, plan_stages

    args = build_parser().parse_args(["--data", "d", "--out", "/tmp/x", "--steps", "9"])
    args.out = Path(args.out)
    s1, s2 = plan_stages(args)
    assert (s1.stage, s1.steps, s1.out, s1.init) == (1, 9, Path("/tmp/x/stage1"), None)
    assert (s2.stage, s2.steps, s2.out, s2.init) == (2, 4, Path("/tmp/x"), "/tmp/x/stage1")
    args.stage = "2"
    with pytest.raises(SystemExit, match="--init"):
        plan_stages(args)
