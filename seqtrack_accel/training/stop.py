"""Stopping a run on request: SIGTERM / SIGINT (to the process or its whole process group), or the end of the
launcher. Every process stops at the same step boundary, agreed over a gloo group, writes a checkpoint and exits 0.

The handler is installed before any long start-up work (the command-line program installs it before it imports
torch), so a stop that arrives while the datasets are read ends the run before its first step, with exit status 0.

    stop = StopRequest()
    stop.install()               # as early as possible
    ...                          # torch.distributed initialised (Accelerator())
    stop.attach_group()          # every process agrees from here on
    if stop.agreed(): ...        # a collective: every process calls it at the same points
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

logger = logging.getLogger("seqtrack_accel.train")


class StopRequest:
    """SIGTERM / SIGINT set a flag; ``agreed()`` tells every process whether any of them was asked to stop.

    So does the end of the launcher: ``accelerate launch`` of one process returns at once on SIGTERM and leaves the
    training process running on, reparented; a process whose parent was a launcher notices that its parent changed
    (one getppid call per check) and stops as for a SIGTERM.
    """

    def __init__(self):
        self.requested = False
        self._previous: dict = {}
        self._group = None
        self._launcher: int | None = None

    @property
    def installed(self) -> bool:
        return bool(self._previous)

    def install(self) -> None:
        """Catch SIGTERM and SIGINT from now on (idempotent)."""
        if self.installed:
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        self._launcher = launcher_pid()

    def attach_group(self) -> None:
        """Agree with the other processes from now on (once torch.distributed is initialised; no-op otherwise)."""
        import torch.distributed as dist

        if self._group is None and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            # A CPU all-reduce of one flag per check: no CUDA synchronisation, and every rank sees the same answer.
            self._group = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        self.requested = True
        logger.warning("received %s: stopping at the next step boundary and writing a checkpoint (during start-up: "
                       "before the first step)", signal.Signals(signum).name)

    def agreed(self) -> bool:
        """Whether any process was asked to stop. A collective once ``attach_group`` found several processes."""
        if self._launcher is not None and not self.requested and os.getppid() != self._launcher:
            self.requested = True
            logger.warning("the launcher (PID %d) has ended: stopping at this step and writing a checkpoint",
                           self._launcher)
        if self._group is None:
            return self.requested
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1 if self.requested else 0], dtype=torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._group)
        return bool(flag.item())


def launcher_pid() -> int | None:
    """The parent process's PID when it is a launcher (``accelerate launch``, ``torchrun``), else None: a run started
    from a shell (or nohup) must not stop when the shell goes."""
    parent = os.getppid()
    try:
        command = Path(f"/proc/{parent}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # not Linux: no launcher watch
        return None
    return parent if any(name in command for name in ("accelerate", "torchrun", "torch.distributed.run")) else None
