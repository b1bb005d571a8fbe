"""A real SLURM on this one machine, for the tests of scripts/slurm/train.sbatch.

Debian's ``slurm-wlm`` and ``munge`` (installed with apt when missing, as root), run from a folder of their own: a
munge key and socket, a ``slurm.conf`` with free ports, one ``slurmctld`` and one ``slurmd`` per node. Every node is
this machine (NodeAddr 127.0.0.1), so a job of two nodes runs two launchers that meet over loopback, as on two
machines. No cgroups: processes are tracked by parentage (``proctrack/linuxproc``), nothing is bound
(``task/none``).

    cluster = SlurmCluster(folder).start()
    try:
        job = cluster.sbatch(["--nodes=2", "script.sbatch", "arg"], env)
        cluster.wait_for(job, lambda j: j["JobState"] == "COMPLETED", timeout=300)
    finally:
        cluster.stop()    # cancels the jobs, stops the daemons, kills whatever of theirs is left
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue", "scancel", "sinfo", "srun")


def install_slurm() -> str | None:
    """Install SLURM and munge with apt when they are missing. None when SLURM can run, else why it cannot."""
    if os.geteuid() != 0:
        return "not root: this SLURM's daemons run as root (slurmd starts the jobs), and apt needs root to install them"
    if all(shutil.which(p) for p in PROGRAMS):
        return None
    if shutil.which("apt-get") is None:
        return f"SLURM is not installed and there is no apt-get to install {' '.join(PACKAGES)}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    out = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:  # a stale package list: update it once
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-q"], capture_output=True, env=env,
                       timeout=600)
        out = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0 or not all(shutil.which(p) for p in PROGRAMS):
        return f"could not install {' '.join(PACKAGES)} with apt-get: {(out.stderr or out.stdout).strip()[-500:]}"
    return None


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class SlurmCluster:
    """munged, slurmctld and ``nodes`` slurmd daemons on this machine, configured and kept under ``root``.

    Args:
        root: an empty folder for the key, the config, the daemons' state, spool folders and logs.
        nodes: SLURM nodes, all of them this machine, one CPU each.
        kill_wait: seconds between SLURM's SIGTERM and its SIGKILL when it ends or requeues a job.
    """

    def __init__(self, root: Path, *, nodes: int = 2, kill_wait: int = 60):
        self.root = Path(root)
        self.nodes = [f"n{i}" for i in range(nodes)]
        self.kill_wait = kill_wait
        self.conf = self.root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._daemons: dict[str, subprocess.Popen] = {}

    def start(self, timeout: float = 60) -> SlurmCluster:
        """Start the daemons and wait until every node is idle; on failure stop them and raise with their logs."""
        try:
            self._start_munge()
            self._write_config()
            self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
            for node in self.nodes:
                self._spawn(f"slurmd-{node}", ["slurmd", "-D", "-N", node, "-f", str(self.conf)])
            deadline = time.monotonic() + timeout
            while self.node_states() != ["idle"] * len(self.nodes):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the SLURM nodes are not idle after {timeout:g} s: {self.node_states()}\n"
                                       f"{self.daemon_logs()}")
                time.sleep(0.5)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_munge(self) -> None:
        folder = self.root / "munge"
        folder.mkdir(mode=0o700, parents=True)
        key = folder / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o400)
        self.socket = folder / "munge.socket"
        self._spawn("munged", ["munged", "--foreground", "--force", f"--socket={self.socket}", f"--key-file={key}",
                               f"--pid-file={folder / 'munged.pid'}", f"--seed-file={folder / 'munged.seed'}",
                               f"--log-file={folder / 'munged.log'}"])
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            if time.monotonic() > deadline or self._daemons["munged"].poll() is not None:
                raise RuntimeError(f"munged did not start:\n{self.daemon_logs()}")
            time.sleep(0.1)

    def _write_config(self) -> None:
        ctld_port, *node_ports = _free_ports(1 + len(self.nodes))
        (self.root / "state").mkdir()
        for node in self.nodes:
            (self.root / f"spool-{node}").mkdir()
        host = socket.gethostname()
        lines = [
            "ClusterName=seqtrack-test",
            f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={ctld_port}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.socket}",
            f"StateSaveLocation={self.root / 'state'}",
            f"SlurmdSpoolDir={self.root / 'spool-%n'}",
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.root / 'slurmd-%n.pid'}",
            "ProctrackType=proctrack/linuxproc",  # no cgroups in containers
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SchedulerType=sched/builtin",
            "SchedulerParameters=sched_interval=1",  # start pending jobs within a second, not a minute
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "SwitchType=switch/none",
            "ReturnToService=2",
            f"KillWait={self.kill_wait}",
            "MinJobAge=3600",  # keep finished jobs' records for `scontrol show job`
            "SlurmdParameters=config_overrides",
            *(f"NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 Port={port} CPUs=1 RealMemory=1000"
              for node, port in zip(self.nodes, node_ports)),
            f"PartitionName=test Nodes={','.join(self.nodes)} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def _spawn(self, name: str, cmd: list[str]) -> None:
        with open(self.root / f"{name}.log", "wb") as log:
            self._daemons[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                                   start_new_session=True)

    # ------------------------------------------------------------------------------------------------------------
    # commands

    def command(self, *args: str, timeout: float = 30) -> str:
        """Run a SLURM command against this cluster; its output. Raises CalledProcessError naming it on failure."""
        out = subprocess.run(args, capture_output=True, text=True, env=self.env, timeout=timeout)
        if out.returncode != 0:
            raise subprocess.CalledProcessError(out.returncode, args, out.stdout, out.stderr)
        return out.stdout

    def sbatch(self, args: list[str], env: dict[str, str]) -> str:
        """Submit a batch job with ``env`` as its environment (sbatch passes it on); the job id."""
        out = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True, timeout=30,
                             env={**env, "SLURM_CONF": str(self.conf)})
        if out.returncode != 0:
            raise RuntimeError(f"sbatch {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout.strip().split(";")[0]

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job``'s fields (JobState, Restarts, ExitCode, ...)."""
        text = self.command("scontrol", "show", "job", "--oneliner", job_id)
        return dict(field.split("=", 1) for field in text.split() if "=" in field)

    def wait_for(self, job_id: str, condition, *, timeout: float, what: str = "") -> dict[str, str]:
        """Poll the job until ``condition(fields)`` holds; its fields. Raises TimeoutError with the job and logs."""
        deadline = time.monotonic() + timeout
        while True:
            fields = self.job(job_id)
            if condition(fields):
                return fields
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id}: {what or 'condition'} not reached in {timeout:g} s; now "
                                   f"JobState={fields.get('JobState')} Reason={fields.get('Reason')} "
                                   f"Restarts={fields.get('Restarts')}\n{self.daemon_logs()}")
            time.sleep(0.2)

    def node_states(self) -> list[str]:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, env=self.env,
                             timeout=30)
        return [s.strip("*~#") for s in out.stdout.split()] if out.returncode == 0 else []

    def daemon_logs(self, lines: int = 15) -> str:
        """The last lines of each daemon's log, less the noise of Debian's build (its PMIx plugin cannot load)."""
        def tail(path: Path) -> str:
            kept = [line for line in path.read_text(errors="replace").splitlines() if "pmix" not in line.lower()
                    and "MPI: Cannot create context" not in line]
            return "\n".join(kept[-lines:])

        return "\n".join(f"--- {p.name}:\n{tail(p)}" for p in sorted(self.root.glob("*.log")))

    # ------------------------------------------------------------------------------------------------------------
    # stop

    def stop(self, timeout: float = 120) -> None:
        """Cancel every job and wait (bounded) for them to end, stop the daemons, then SIGKILL whatever is left of
        this cluster's processes: the job step daemons (slurmstepd) outlive slurmd, and jobs run under them."""
        if "slurmctld" in self._daemons and self._daemons["slurmctld"].poll() is None:
            try:
                self.command("scancel", "--full", "--user=root")
                deadline = time.monotonic() + timeout
                while self.command("squeue", "-h", "-o", "%i").strip() and time.monotonic() < deadline:
                    time.sleep(0.5)
            except (subprocess.SubprocessError, OSError):
                pass  # the controller is not answering: what is left is killed below
        for proc in reversed(self._daemons.values()):  # the slurmd daemons, slurmctld, munged last
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)
        for pid in self._leftover_processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _leftover_processes(self) -> list[int]:
        """Processes started for this cluster: their environment names its slurm.conf (the daemons' and the jobs',
        which sbatch passes on), or, for the step daemons, their command line names its spool folders."""
        marker = f"SLURM_CONF={self.conf}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0") or (
                        str(self.root).encode() in (entry / "cmdline").read_bytes()):
                    found.append(int(entry.name))
            except OSError:  # gone, or not ours to read
                continue
        return found
