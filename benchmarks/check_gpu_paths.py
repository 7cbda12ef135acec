"""Check every generation path on a CUDA GPU end to end, against the CPU, and time the GPU targets.

Run it on a machine with an NVIDIA GPU (and ``pip install 'cafetalk[server]'``); it exits non-zero
if any path fails or disagrees with the CPU by more than 1e-3 (curve units, same seed):

    python benchmarks/check_gpu_paths.py [--checkpoint DIR] [--lines 1000] [--batch-size 16] [--json out.json]
    python benchmarks/check_gpu_paths.py --device cpu --lines 20    # dry run of the script itself, no GPU

Paths (the shipped model: signature prior, closure and head stages): plain sampling, fine controls,
emotion and head spans, inpainting a span, text controls, a batch of clips of different lengths
(equal to the clips one by one), the server (``create_app`` on the GPU generator, one job over
HTTP), and ``cafetalk batch`` on the GPU. Timings (issue 25's targets): 60 s of speech -> curves
(target <= 0.5 s), and a manifest of ``--lines`` 5 s lines (target: 1,000 lines in <= 3 min) with
the GPU's utilisation sampled by ``nvidia-smi`` while it runs.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from cafetalk_core.controls import ControlSet  # noqa: E402
from cafetalk_core.pipeline import Generator  # noqa: E402

SPEECH = ROOT / "cafetalk_core/evaluation/sets/real_speech/arctic_a0009.wav"
SHORT = ROOT / "cafetalk_core/evaluation/sets/real_speech/ps_cards_002.wav"
CONTROLS = ControlSet.from_dict({
    "emotion": "happy", "intensity": 0.6, "emotion_spans": [{"emotion": "angry", "start_s": 2.0, "end_s": 3.0}],
    "fine": [{"action": "AU12", "start_s": 0.5, "end_s": 1.5, "intensity": 0.7}, {"action": "AU45", "start_s": 1.0, "end_s": 1.2},
             {"action": "AU26", "start_s": 2.0, "end_s": 2.5}],
    "head_spans": [{"start_s": 0.0, "end_s": 1.0, "amount": 1.5}]})


class Utilisation:
    """nvidia-smi's GPU utilisation, sampled every 0.2 s in a thread."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", "0"],
                                     capture_output=True, text=True, timeout=5).stdout
                self.samples.append(float(out.strip().splitlines()[0]))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                pass
            self._stop.wait(0.2)

    def __enter__(self) -> "Utilisation":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float | None]:
        s = self.samples
        return {"mean_pct": round(float(np.mean(s)), 1) if s else None, "max_pct": max(s) if s else None}


def long_speech(seconds: float) -> np.ndarray:
    clips = [sf.read(p, dtype="float32")[0] for p in sorted((ROOT / "cafetalk_core/evaluation/sets").glob("real_speech*/*.wav"))
             if sf.info(p).samplerate == 16000 and sf.info(p).channels == 1]
    speech = np.concatenate(clips * (1 + int(seconds * 16000) // sum(len(c) for c in clips)))
    return speech[: int(seconds * 16000)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--lines", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--json", default=None)
    ap.add_argument("--device", default="cuda",
                    help="cuda (default); 'cpu' runs the script's own logic on a machine without a GPU (a dry run)")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("check_gpu_paths: no CUDA GPU visible to torch", file=sys.stderr)
        return 2
    on_gpu = args.device.startswith("cuda")
    report: dict = {"gpu": torch.cuda.get_device_name(0) if on_gpu else f"none ({args.device} dry run)",
                    "torch": torch.__version__, "paths": {}, "timings": {}}
    cpu = Generator(args.checkpoint, device="cpu")
    gpu = Generator(args.checkpoint, device=args.device)

    def sync() -> None:
        if on_gpu:
            torch.cuda.synchronize()
    failed = []

    def path(name: str, fn) -> None:
        t0 = time.perf_counter()
        try:
            diff = fn()
            ok = diff is None or diff <= 1e-3
            report["paths"][name] = {"ok": ok, "max_diff_vs_cpu": diff, "seconds": round(time.perf_counter() - t0, 3)}
        except Exception:  # noqa: BLE001 - every path is tried and reported
            report["paths"][name] = {"ok": False, "error": traceback.format_exc(limit=3)}
            ok = False
        if not ok:
            failed.append(name)
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {report['paths'][name]}")

    def both(**kw):
        return float(np.abs(cpu.generate(**kw).values - gpu.generate(**kw).values).max())

    path("plain sampling", lambda: both(audio=SPEECH, seed=1))
    path("fine controls + emotion and head spans", lambda: both(audio=SPEECH, controls=CONTROLS, seed=2))
    take = cpu.generate(SPEECH, seed=3)
    path("inpainting a span", lambda: both(audio=SPEECH, controls=CONTROLS, seed=4, inpaint=(take, 1.0, 2.0)))

    def text_controls():
        from cafetalk_core.pipeline import build_controls
        cs = build_controls(text="smile at the end and blink", duration_s=3.1)
        return both(audio=SPEECH, controls=cs, seed=5)
    path("text controls", text_controls)

    def batch_equals_one_by_one():
        jobs = [gpu.prepare(SPEECH, CONTROLS, seed=6), gpu.prepare(SHORT, seed=7), gpu.prepare(long_speech(20.0), seed=8)]
        outs = gpu.sample_batch(jobs)
        return max(float(np.abs(o - gpu.sample_batch([j])[0]).max()) for j, o in zip(jobs, outs))
    path("batch of clips of different lengths (vs one by one, on the GPU)", batch_equals_one_by_one)

    def server():
        import httpx
        sys.path.insert(0, str(ROOT / "tests"))
        from server_fixtures import running_server, wait_for

        from cafetalk_core.server import ServerSettings, create_app
        with running_server(create_app(gpu, ServerSettings(device=args.device, max_batch=8))) as url, httpx.Client(base_url=url, timeout=60) as c:
            job = c.post("/v1/jobs", files={"audio": ("a.wav", SPEECH.read_bytes())},
                         data={"controls": CONTROLS.to_json(), "options": '{"seed": 9}'}).json()
            state = wait_for(c, job["job_id"])
            assert state["state"] == "done", state
        return None
    path("server on the GPU (one job over HTTP)", server)

    # timings
    wav60 = long_speech(60.0)
    gpu.generate(wav60, seed=0)                       # warm-up (kernels, recogniser)
    sync()
    t0 = time.perf_counter()
    gpu.generate(wav60, seed=0)
    sync()
    report["timings"]["60 s of speech -> curves (s)"] = round(time.perf_counter() - t0, 3)
    job = gpu.prepare(wav60, seed=0)
    t0 = time.perf_counter()
    gpu.finish(job, gpu.sample_batch([job])[0])
    sync()
    report["timings"]["60 s of speech, model only (s)"] = round(time.perf_counter() - t0, 3)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        speech = long_speech(5.0 * 50)
        rows = ["audio,out,emotion,controls,seed"]
        for i in range(args.lines):
            k = i % 50
            if i < 50:
                sf.write(root / f"l{k}.wav", speech[k * 80000:(k + 1) * 80000], 16000)
            rows.append(f"l{k}.wav,out/{i}.npz,{'happy' if i % 2 else 'neutral'},{'AU12:1.0-2.0' if i % 3 == 0 else ''},{i}")
        (root / "m.csv").write_text("\n".join(rows) + "\n")
        cmd = [sys.executable, "-m", "cafetalk_core.cli", "batch", str(root / "m.csv"), "--device", args.device,
               "--batch-size", str(args.batch_size)] + (["--checkpoint", args.checkpoint] if args.checkpoint else [])
        with Utilisation() as util:
            t0 = time.perf_counter()
            rc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True).returncode
            wall = time.perf_counter() - t0
        summary = json.loads((root / "m.csv.report.json").read_text())
        report["timings"][f"cafetalk batch, {args.lines} lines of 5 s (s)"] = round(wall, 1)
        report["timings"]["clips per minute"] = round(60 * summary["done"] / wall, 1)
        report["timings"]["batch workers (front end)"] = summary.get("workers")
        report["timings"]["gpu utilisation"] = util.summary()
        if rc != 0 or summary["failed"]:
            failed.append("cafetalk batch on the GPU")
        shutil.rmtree(root / "out", ignore_errors=True)
    for name, value in report["timings"].items():
        print(f"{name}: {value}")
    report["failed"] = failed
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    print("check_gpu_paths:", "every path ran" if not failed else f"FAILED: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
