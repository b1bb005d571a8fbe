"""Hub mirroring overhead: training step time while checkpoint uploads are in flight, against no mirroring.

    python scripts/bench_mirror.py --threads 1
    python scripts/bench_mirror.py --config configs/demo.yaml --steps 96 --checkpoint_every 8 --latency 2 \\
        data.datasets[0].root=/data/LaSOT

Each repeat runs the Trainer twice in this process, in alternating order (plain then mirrored, then mirrored then
plain, ...): once without a repo, once mirroring to a local Hub-compatible server (FakeHub on 127.0.0.1) with
``hub.upload_full_state=true``. Both write a checkpoint every ``--checkpoint_every`` steps; only the mirror
differs. A step's time is the time between the starts of two consecutive ``Trainer.train_step`` calls, so it holds
data waiting, forward, backward, optimizer, logging and checkpoint writing: everything the loop does.

``--latency L`` holds every commit L seconds and then drops it (FakeHub's ``hang`` fault); the mirror's retry
succeeds, so each of a checkpoint's commits takes at least L s and the uploads overlap the steps that follow.
The retry builds its request body again, so with L > 0 the client-side cost of a commit is paid twice.
The server runs in its own process by default: decoding the uploads is the Hub's work, not the trainer's. With
``--server thread`` it shares the trainer's interpreter (a pessimistic bound).

FakeHub answers preupload the way the Hub does: weights, optimizer and RNG files (``.safetensors``, ``.bin``,
``.pkl``, anything over 10 MiB) go through the LFS batch API (sha256 hashing and a streamed PUT, which release the
interpreter lock), and only the small text files (``training_state.json``, ``config.yaml``, logs) are base64-encoded
into the commit's JSON body. The real Hub would take the LFS files through Xet (hf_xet, native code); FakeHub does
not speak Xet, so this process uploads them through the LFS batch API instead (``HF_HUB_DISABLE_XET``).

Prints one JSON line per arm (the mirrored one split into the steps that overlapped a commit body being built,
those that overlapped a commit open on the server, and the rest) and a last line with the relative slowdowns of
the mean step time (target < 0.02), of the median, and of the medians of those groups.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from bench_env import device_name, versions
from seqtrack_accel.config import Config, load_config
from seqtrack_accel.training import Trainer
from seqtrack_accel.cli import ArgumentParser

# The local Hub server is test code (tests/fake_hub.py, not installed with the package); this script runs from a
# checkout, next to it.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from fake_hub import FakeHub, Fault, disable_xet  # noqa: E402

COMMIT_SUFFIX = "/commit/main"
PREUPLOAD_SUFFIX = "/preupload/main"
TARGET_SLOWDOWN = 0.02


# ---------------------------------------------------------------------------------------------------------------
# the local Hub, with an upload latency


def _hold_commits(hub: FakeHub, latency: float, stop) -> None:
    """Keep one ``hang`` fault queued for the next commit whenever the previous commit attempt was answered, so
    every commit is held ``latency`` seconds once and its retry goes through."""
    while not stop():
        if not hub.pending_faults():
            commits = [r for r in hub.requests if r.path.endswith(COMMIT_SUFFIX)]
            if not commits or commits[-1].fault != "hang":
                hub.inject([Fault.hang(latency, match=COMMIT_SUFFIX)])
        time.sleep(0.005)


def _timeline(hub: FakeHub, repos: list[str]) -> dict:
    """What the mirror did, in time.monotonic() seconds (one clock for every process of this machine)."""
    return {
        "requests": [(r.time, r.path, r.fault, r.status) for r in hub.requests],
        "commits": sorted((c.time, c.summary) for repo in repos if hub.repo_exists(repo) for c in hub.commits(repo)),
    }


def _serve(conn, token: str, latency: float) -> None:
    """Child process: run a FakeHub, send its endpoint, hold commits until asked for the timeline."""
    with FakeHub(token=token) as hub:
        stop = threading.Event()
        if latency > 0:
            threading.Thread(target=_hold_commits, args=(hub, latency, stop.is_set), daemon=True).start()
        conn.send(hub.endpoint)
        repos = conn.recv()
        stop.set()
        conn.send(_timeline(hub, repos))


class LocalHub:
    """A FakeHub in a child process (``in_process=False``) or a thread of this one, for the mirrored arms."""

    def __init__(self, *, token: str, latency: float, in_process: bool):
        self.token, self.latency, self.in_process = token, latency, in_process
        self.endpoint = ""
        self._answered = False

    def __enter__(self) -> LocalHub:
        if self.in_process:
            self._hub = FakeHub(token=self.token).start()
            self._stop = threading.Event()
            if self.latency > 0:
                threading.Thread(target=_hold_commits, args=(self._hub, self.latency, self._stop.is_set),
                                 daemon=True).start()
            self.endpoint = self._hub.endpoint
        else:
            ctx = multiprocessing.get_context("spawn")  # a fork would copy torch's threads and the trainer's state
            self._conn, child = ctx.Pipe()
            self._proc = ctx.Process(target=_serve, args=(child, self.token, self.latency), daemon=True)
            self._proc.start()
            self.endpoint = self._conn.recv()
        return self

    def timeline(self, repos: list[str]) -> dict:
        """Stops holding commits and returns the request and commit log (call once, at the end)."""
        if self.in_process:
            self._stop.set()
            return _timeline(self._hub, repos)
        self._conn.send(repos)
        self._answered = True
        return self._conn.recv()

    def __exit__(self, *exc_info) -> None:
        if self.in_process:
            self._stop.set()
            self._hub.stop()
            return
        if self._answered:
            self._proc.join(timeout=10)
        if self._proc.is_alive():  # the run failed before asking for the timeline: the child still waits for it
            self._proc.kill()


def upload_phases(timeline: dict, latency: float) -> dict[str, list[tuple[float, float]]]:
    """(start, end) intervals of the mirror's commit attempts, split in two phases as the server sees them:

    * ``encoding``: from the preupload request to the commit request; the client uploads the LFS files (batch,
      PUT, verify) and builds the commit body (base64 in JSON for the small "regular" files) in the trainer's
      process;
    * ``waiting``: from the commit request until the commit is applied (answered attempts) or dropped (held ones);
      the client only sends and waits.
    """
    applied = [t for t, _ in timeline["commits"]]
    phases: dict[str, list[tuple[float, float]]] = {"encoding": [], "waiting": []}
    last_preupload = None
    for arrived, path, fault, _status in sorted(timeline["requests"]):
        if path.endswith(PREUPLOAD_SUFFIX):
            last_preupload = arrived
        elif path.endswith(COMMIT_SUFFIX):
            if last_preupload is not None:
                phases["encoding"].append((last_preupload, arrived))
            end = arrived + latency if fault == "hang" else next((t for t in applied if t >= arrived), arrived)
            phases["waiting"].append((arrived, end))
            last_preupload = None
    return phases


# ---------------------------------------------------------------------------------------------------------------
# timed training runs


class TimedTrainer(Trainer):
    """The Trainer, noting time.monotonic() at the start of every training step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.step_starts: list[float] = []

    def train_step(self, batch):
        self.step_starts.append(time.monotonic())
        return super().train_step(batch)


@dataclass
class Arm:
    name: str
    step_starts: list[float]
    end: float  # when fit() returned (after close() waited for the uploads, in the mirrored arm)
    cpu_s: float  # CPU time of this process (all its threads; not the data workers) over the run
    device: str = ""


def train_once(cfg: Config, run_dir: Path, name: str) -> Arm:
    # Every run of this process builds its Accelerator with the same settings, so they share Accelerate's state.
    trainer = TimedTrainer(cfg, run_dir=run_dir, epochs=1)
    cpu = time.process_time()
    trainer.fit()
    cpu = time.process_time() - cpu
    device = trainer.accelerator.device
    return Arm(name, trainer.step_starts, time.monotonic(), cpu, device_name(device))


def step_spans(arms: list[Arm], warmup: int) -> list[tuple[float, float]]:
    """(start, end) of every step after the warm-up; the last step has no successor and is left out."""
    out = []
    for arm in arms:
        starts = arm.step_starts
        out += list(zip(starts[warmup:-1], starts[warmup + 1:]))
    return out


def overlaps(span: tuple[float, float], intervals: list[tuple[float, float]]) -> bool:
    return any(a < span[1] and span[0] < b for a, b in intervals)


def summary(spans: list[tuple[float, float]]) -> dict:
    ms = sorted(1000 * (b - a) for a, b in spans)
    if not ms:
        return {"steps": 0}
    return {"steps": len(ms), "step_ms_mean": statistics.fmean(ms), "step_ms_median": statistics.median(ms),
            "step_ms_p90": ms[min(len(ms) - 1, int(0.9 * len(ms)))]}


def run_arms(args: argparse.Namespace, root: Path, hub: LocalHub) -> tuple[list[Arm], list[Arm], list[str]]:
    """``args.repeats`` plain / mirrored pairs, alternating which goes first. Returns (plain, mirrored, repos)."""
    base = load_config(args.config, args.overrides)
    common = [*args.overrides,
              f"data.samples_per_epoch={(args.warmup + args.steps + 1) * base.train.batch_size}",
              f"train.checkpoint_every_steps={args.checkpoint_every}"]
    mirror = [f"hub.upload_full_state={str(not args.weights_only).lower()}", "hub.backoff_base=0.05",
              "hub.backoff_max=0.5", f"hub.request_timeout={max(30.0, 4 * args.latency)}", "hub.final_wait=600"]
    plain, mirrored, repos = [], [], []
    saved = {key: os.environ.get(key) for key in ("HF_ENDPOINT", "HF_TOKEN")}
    os.environ.update(HF_ENDPOINT=hub.endpoint, HF_TOKEN=hub.token)  # what the trainer's HubMirror reads
    try:
        for r in range(args.repeats):
            for name in ("plain", "mirrored") if r % 2 == 0 else ("mirrored", "plain"):
                if name == "plain":
                    plain.append(train_once(load_config(args.config, common), root / f"plain_{r}", name))
                else:
                    repos.append(f"bench/mirror-{r}")
                    cfg = load_config(args.config, [*common, f"hub.repo_id={repos[-1]}", *mirror])
                    mirrored.append(train_once(cfg, root / f"mirrored_{r}", name))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return plain, mirrored, repos


def report(args: argparse.Namespace, plain: list[Arm], mirrored: list[Arm], timeline: dict,
           checkpoint_mb: float) -> list[dict]:
    """The JSON lines: one per arm, then the slowdowns."""
    base = load_config(args.config, args.overrides)
    context = {
        "device": plain[0].device, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "versions": versions(),
        "config": {"file": args.config, "name": base.name, "overrides": args.overrides,
                   "encoder": base.model.encoder, "batch_size": base.train.batch_size,
                   "search_size": base.data.search.size, "template_size": base.data.template.size,
                   "workers": base.data.num_workers, "checkpoint_every_steps": args.checkpoint_every,
                   "checkpoint_mb": round(checkpoint_mb, 2), "upload_full_state": not args.weights_only,
                   "latency_s": args.latency, "server": args.server, "steps": args.steps, "warmup": args.warmup,
                   "repeats": args.repeats},
    }
    phases = upload_phases(timeline, args.latency)
    plain_spans, mirrored_spans = step_spans(plain, args.warmup), step_spans(mirrored, args.warmup)
    encoding = [s for s in mirrored_spans if overlaps(s, phases["encoding"])]
    waiting = [s for s in mirrored_spans if s not in encoding and overlaps(s, phases["waiting"])]
    idle = [s for s in mirrored_spans if s not in encoding and s not in waiting]
    plain_line = {"benchmark": "mirror_step_time", "arm": "no_mirror", **summary(plain_spans),
                  "end_of_run_s": statistics.fmean(a.end - a.step_starts[-1] for a in plain),
                  "process_cpu_s": statistics.fmean(a.cpu_s for a in plain), **context}
    mirrored_line = {
        "benchmark": "mirror_step_time", "arm": "mirror", **summary(mirrored_spans),
        "while_commit_open": summary(waiting), "while_commit_encoded": summary(encoding),
        "without_upload_activity": summary(idle),
        "commits": sum(1 for _, summary_line in timeline["commits"] if summary_line != "initial commit"),
        "held_commit_attempts": sum(1 for _, path, fault, _ in timeline["requests"]
                                    if path.endswith(COMMIT_SUFFIX) and fault == "hang"),
        "end_of_run_s": statistics.fmean(a.end - a.step_starts[-1] for a in mirrored),
        "process_cpu_s": statistics.fmean(a.cpu_s for a in mirrored), **context,
    }
    base_mean, base_median = plain_line["step_ms_mean"], plain_line["step_ms_median"]
    result = {"benchmark": "mirror_overhead", "device": context["device"], "target": TARGET_SLOWDOWN,
              "slowdown": mirrored_line["step_ms_mean"] / base_mean - 1,
              "slowdown_median": mirrored_line["step_ms_median"] / base_median - 1}
    for key, spans in (("while_commit_open", waiting), ("while_commit_encoded", encoding)):
        if spans:
            result[f"slowdown_{key}_median"] = summary(spans)["step_ms_median"] / base_median - 1
    result["within_target"] = result["slowdown"] < TARGET_SLOWDOWN
    return [plain_line, mirrored_line, result]


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="demo", help="experiment YAML: a path or a shipped config name (default demo)")
    p.add_argument("--steps", type=int, default=48, help="measured steps per arm and repeat")
    p.add_argument("--warmup", type=int, default=3, help="steps left out at the start of each run")
    p.add_argument("--checkpoint_every", type=int, default=8, help="train.checkpoint_every_steps of both arms")
    p.add_argument("--latency", type=float, default=1.0,
                   help="seconds each commit is held once before its retry succeeds (0: none)")
    p.add_argument("--weights_only", action="store_true",
                   help="mirror weights, training_state.json and config.yaml only (hub.upload_full_state=false)")
    p.add_argument("--repeats", type=int, default=2, help="plain / mirrored pairs, in alternating order")
    p.add_argument("--server", choices=["process", "thread"], default="process")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--output_dir", help="where the runs go (default: a temporary folder, removed at the end)")
    p.add_argument("overrides", nargs="*", help="key.path=value config overrides")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    # The server may run in another process: the trainer's huggingface_hub must use LFS, which FakeHub speaks.
    disable_xet()
    token = f"hf_bench_{secrets.token_hex(16)}"
    with tempfile.TemporaryDirectory(prefix="bench-mirror-") as tmp, \
            LocalHub(token=token, latency=args.latency, in_process=args.server == "thread") as hub:
        root = Path(args.output_dir or tmp)
        plain, mirrored, repos = run_arms(args, root, hub)
        timeline = hub.timeline(repos)
        checkpoint_mb = _checkpoint_mb(root / "plain_0")
    for line in report(args, plain, mirrored, timeline, checkpoint_mb):
        print(json.dumps(line), flush=True)


def _checkpoint_mb(run_dir: Path) -> float:
    folders = sorted((run_dir / "phase_1" / "checkpoints").glob("checkpoint_*"))
    if not folders:
        return 0.0
    return sum(p.stat().st_size for p in folders[-1].rglob("*") if p.is_file()) / 2**20


if __name__ == "__main__":
    main()
