"""Server load benchmark: N concurrent clients submitting 5 s clips to a local `cafetalk serve`.

Prints throughput (jobs/s and audio seconds per wall second), end-to-end latency per job
(submit -> result downloaded) p50/p95, failures, 429 retries and the server's peak RSS.

    python benchmarks/bench_server.py                          # random tiny model (no checkpoint needed)
    python benchmarks/bench_server.py --checkpoint cafetalk_core/weights --jobs-per-client 3
    python benchmarks/bench_server.py --url http://127.0.0.1:8765 --token T   # an already running server
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from cafetalk_core.audio import load_audio
from cafetalk_core.server_process import ServerProcess, ServerStartError

SENTENCE = ("The quick brown fox jumps over the lazy dog, and then it runs back home "
            "before the rain begins to fall on the quiet little town.")


def make_clip(seconds: float) -> bytes:
    """A `seconds` long 16 kHz WAV: espeak-ng speech when installed, padded/cut; else a buzz."""
    wav = None
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "s.wav"
            subprocess.run(["espeak-ng", "-w", str(out), SENTENCE], check=True, capture_output=True)
            wav = load_audio(out)
    n = int(seconds * 16000)
    if wav is None:
        t = np.arange(n) / 16000
        wav = (0.3 * np.sign(np.sin(2 * np.pi * 120 * t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2)).astype(np.float32)
    wav = np.pad(wav, (0, max(0, n - len(wav))))[:n]
    buf = io.BytesIO()
    sf.write(buf, wav, 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def start_server(args: argparse.Namespace) -> ServerProcess:
    """``cafetalk serve`` on a free port, healthy (the core's one launcher)."""
    extra = ["--device", args.device, "--max-queue", str(max(8, args.clients))]
    extra += ["--checkpoint", args.checkpoint] if args.checkpoint else ["--random-model"]
    server = ServerProcess(extra).start()
    try:
        server.wait_healthy(timeout_s=120)
    except ServerStartError as exc:
        raise SystemExit(str(exc)) from None
    return server


def client_loop(url: str, headers: dict, clip: bytes, jobs: int, options: str, out: list, lock: threading.Lock) -> None:
    with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
        for _ in range(jobs):
            t0 = time.perf_counter()
            record = {"ok": False, "retries": 0, "error": None}
            try:
                while True:
                    r = c.post("/v1/jobs", files={"audio": ("clip.wav", clip, "audio/wav")},
                               data={"controls": '{"emotion": "happy", "intensity": 0.6}', "options": options})
                    if r.status_code != 429:
                        break
                    record["retries"] += 1
                    time.sleep(float(r.headers.get("retry-after", "1")))
                if r.status_code != 202:
                    raise RuntimeError(f"submit {r.status_code}: {r.text[:200]}")
                job = r.json()["job_id"]
                while True:
                    s = c.get(f"/v1/jobs/{job}").json()
                    if s["state"] in ("done", "failed", "cancelled"):
                        break
                    time.sleep(0.05)
                if s["state"] != "done":
                    raise RuntimeError(f"job {s['state']}: {s.get('error')}")
                res = c.get(f"/v1/jobs/{job}/result")
                if res.status_code != 200 or not res.json()["frames"]:
                    raise RuntimeError(f"result {res.status_code}")
                record["ok"] = True
            except Exception as exc:  # noqa: BLE001 - a benchmark counts failures, it does not stop
                record["error"] = str(exc)
            record["latency_s"] = time.perf_counter() - t0
            with lock:
                out.append(record)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default=None, help="use a running server instead of starting one")
    p.add_argument("--token", default=os.environ.get("CAFETALK_TOKEN"))
    p.add_argument("--checkpoint", default=None, help="checkpoint to serve (default: the random tiny model)")
    p.add_argument("--device", default="auto")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--jobs-per-client", type=int, default=2)
    p.add_argument("--clip-s", type=float, default=5.0)
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    args = p.parse_args(argv)

    clip = make_clip(args.clip_s)
    server = None if args.url else start_server(args)
    url = args.url or server.url
    proc = server.proc if server else None
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    options = "{}" if args.steps is None else f'{{"steps": {args.steps}}}'
    try:
        info = httpx.get(f"{url}/v1/info", headers=headers, timeout=10).json()
        rss_idle = rss_mb(proc.pid) if proc else None
        peak = [rss_idle or 0.0]
        done = threading.Event()

        def sample_rss() -> None:
            while proc and not done.is_set():
                peak[0] = max(peak[0], rss_mb(proc.pid) or 0.0)
                time.sleep(0.1)

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        # one warm-up job so the first client does not pay for lazy initialisation
        client_loop(url, headers, clip, 1, options, [], threading.Lock())
        records: list[dict] = []
        lock = threading.Lock()
        threads = [threading.Thread(target=client_loop, args=(url, headers, clip, args.jobs_per_client, options, records, lock))
                   for _ in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        done.set()
        sampler.join(1)
    finally:
        if server:
            server.stop()

    ok = [r for r in records if r["ok"]]
    lat = sorted(r["latency_s"] for r in ok)
    q = (lambda f: lat[min(len(lat) - 1, int(round(f * (len(lat) - 1))))]) if lat else (lambda f: float("nan"))
    print(f"server: {url}  model: {info.get('model_id')}  device: {info.get('device')}  "
          f"steps: {args.steps or info.get('default_steps')}")
    print(f"clients: {args.clients} x {args.jobs_per_client} jobs of {args.clip_s:g} s audio")
    print(f"jobs ok: {len(ok)}/{len(records)}  failures: {len(records) - len(ok)}  "
          f"429 retries: {sum(r['retries'] for r in records)}")
    print(f"wall: {wall:.2f} s  throughput: {len(ok) / wall:.2f} jobs/s = {len(ok) * args.clip_s / wall:.1f} s of audio per s")
    if lat:
        print(f"latency (submit -> result): p50 {q(0.5):.2f} s  p95 {q(0.95):.2f} s  max {lat[-1]:.2f} s  "
              f"mean {statistics.mean(lat):.2f} s")
    if proc:
        print(f"server RSS: idle {rss_idle:.0f} MB  peak {peak[0]:.0f} MB")
    for r in records:
        if r["error"]:
            print("  failure:", r["error"])
    return 0 if len(ok) == len(records) else 1


if __name__ == "__main__":
    sys.exit(main())
