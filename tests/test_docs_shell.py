"""Every shell block of the README and the docs pages runs as written, or says on its first line what it needs.

Each page's ```bash / ```sh / ```console blocks run in order (a later block may use an earlier one's output), each
with ``bash -e``, in a folder of the page's own that is laid out as a checkout (``train.py``, ``configs/``,
``scripts/``, ...), on the CPU, with the commands of this environment on ``PATH``. A page whose commands use the demo's
run (``runs/demo/``) starts from the folder the README's blocks leave, which train the demo. A block whose first line
is ``# needs: <what>`` is not run: it needs what a test machine does not have (real datasets, a GPU, a Hub token, a
cluster, a browser). Commands that take minutes as written run shrunk by the arguments of ``SHRINK``; a command
followed by ``# error: <message>`` lines must fail as shown: exit status 2 and that message (``...`` stands for any
text) on stderr. Figures that the pages quote are checked by tests/test_docs_figures.py, not here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(bash|sh|console)\n(.*?)^```", re.S | re.M)
NEEDS = re.compile(r"# needs: (\S.*)")
# What a checkout holds that the commands read: the entry point, configs, scripts and the local Hub server.
CHECKOUT = ("train.py", "configs", "scripts", "accelerate_configs", "tests", "setup.cfg", "pyproject.toml")

# (words of a command line, arguments inserted after them, why). Longer texts are applied first, so a line may get
# several; every entry must shrink some block (tested below). The scripts take flags only after their own flags, so
# their entries add flags, which argparse reads last-wins.
SHRINK = [
    ("train.py --config configs/demo.yaml", "data.samples_per_epoch=16 eval.free_run_samples=16 model.encoder=nano",
     "the demo trains 16 epochs of 1024 samples (5.5 minutes); 16 epochs of one step of the 4-block encoder write "
     "every checkpoint the pages name, in seconds"),
    ("train.py --config configs/demo.yaml --output_dir runs/demo_ddp", "--epochs 2 data.samples_per_epoch=32",
     "two processes on a shared 2-core machine: two epochs of one step each (a batch of 16 per process) show that "
     "they train together"),
    ("--config configs/finetune_demo.yaml", "model.encoder=nano",
     "the network of the shrunk demo, whose checkpoint fine-tuning starts from"),
    ("train.py --config configs/finetune_demo.yaml", "data.samples_per_epoch=16 eval.free_run_samples=16",
     "fine-tuning trains 4 epochs of 1024 samples (about 2 minutes); 4 epochs of one step write the checkpoints named"),
    ("seqtrack-profile --config seqtrack_b256 --frames 20", "--frames 2",
     "B256 takes about a second a frame on a CPU; 2 frames time it as well as 20 show the command works"),
    ("seqtrack-export --checkpoint runs/demo/phase_1/checkpoints/checkpoint_16 --output exports/demo --time_frames 20",
     "--time_frames 2", "the timing after the parity check is not what the page shows; 2 frames are enough"),
    ("python scripts/bench_train.py --config configs/demo.yaml --steps 20", "--steps 2",
     "each setting of the benchmark trains in its own process; 2 steps show the JSON lines"),
    ("python scripts/bench_track.py --config configs/demo.yaml --frames 60", "--frames 6", "as bench_train's"),
    ("--samples 300 --workers 1", "--samples 32 --rounds 1 --sequences_per_class 2 --frames 20",
     "the synthetic trees at real frame sizes (up to 1920x1080) take minutes to write; 32 samples (two batches: the "
     "first is not timed) from a few short sequences show the JSON lines"),
    ("python scripts/bench_mirror.py --threads 1", "--steps 4 --warmup 1 --checkpoint_every 2 --repeats 1 "
     "--latency 0", "two arms of 48 steps of the demo, twice; 4 steps show the overhead line"),
    ("seqtrack-make-synthetic --layout got10k --out data/synthetic_got10k --sequences 1 --val_sequences 8 "
     "--test_sequences 4", "--val_sequences 2 --test_sequences 2 --frames 20",
     "tracking 12 sequences of 1280x720 frames takes minutes; 2 short ones per split show both protocols"),
    ("seqtrack-make-synthetic --layout tnl2k --out data/synthetic_tnl2k --sequences 8", "--sequences 2 --frames 20",
     "as GOT-10k's"),
    ("python scripts/bench_startup.py --out /tmp/startup_trees --scale 0.1", "--scale 0.002 --out startup_trees",
     "a tenth of the real sizes is still a million annotation lines to write and parse; 0.2% shows the JSON lines, "
     "in the block's own folder"),
]
# One thread per process: many tiny ops on a shared 2-core machine run several times faster than on two threads.
ENV = {"OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


@dataclass(frozen=True)
class Block:
    page: str
    index: int  # the block's position among the page's shell blocks
    text: str

    @property
    def needs(self) -> str | None:
        """What the block needs, from its first line ``# needs: ...``; None when it runs here."""
        first = self.text.splitlines()[0] if self.text.strip() else ""
        match = NEEDS.fullmatch(first.strip())
        return match.group(1) if match else None


def blocks(page: str) -> list[Block]:
    found = [Block(page, i, m.group(2) if m.group(1) != "console" else _console_commands(m.group(2)))
             for i, m in enumerate(FENCE.finditer((REPO / page).read_text()))]
    return found


def _console_commands(text: str) -> str:
    """The commands of a console transcript: its ``$ `` lines."""
    return "".join(line[2:] + "\n" for line in text.splitlines() if line.startswith("$ "))


def _words(pattern: str) -> re.Pattern:
    """``pattern`` as whole words: ``train.py`` is not the end of ``bench_train.py``."""
    return re.compile(rf"(?<![\w./-]){re.escape(pattern)}(?![\w./-])")


def shrunk(text: str) -> str:
    for pattern, extra, _ in sorted(SHRINK, key=lambda entry: -len(entry[0])):
        text = _words(pattern).sub(lambda match: f"{match.group(0)} {extra}", text)
    return text


def with_error_checks(text: str, tag: str) -> tuple[str, list[tuple[str, str]]]:
    """The block with each command that a ``# error: ...`` comment follows run so that its failure is recorded, and
    the (stderr file, expected message) pairs to check."""
    lines, out, expected = text.splitlines(), [], []
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and lines[i + 1].startswith("# error:") and not line.startswith("#"):
            assert not lines[i - 1].endswith("\\"), f"{tag}: a command shown failing must fit on one line"
            message = []
            for follow in lines[i + 1:]:
                if not follow.startswith("# "):
                    break
                message.append(follow[2:])
            name = f".docs_error_{tag}_{len(expected)}"
            out.append(f"set +e; {line} 2> {name}; echo $? >> {name}.status; set -e")
            expected.append((name, " ".join(message)))
        else:
            out.append(line)
    return "\n".join(out) + "\n", expected


def _shows(message: str, stderr: str) -> bool:
    """Whether ``stderr`` holds ``message``, where ``...`` in it stands for any text (whitespace is not compared)."""
    parts = [re.escape(" ".join(part.split())) for part in message.split("...")]
    return re.search(".*".join(parts), " ".join(stderr.split())) is not None


def checkout(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in CHECKOUT:
        (folder / name).symlink_to(REPO / name)
    return folder


def copy_run(source: Path, target: Path) -> None:
    """Copy a tree, its large files as hard links: checkpoints and frames are written once, under a temporary name,
    never changed in place."""
    def link_or_copy(src, dst):
        if Path(src).suffix in {".safetensors", ".bin", ".pkl", ".pt", ".jpg", ".png"}:
            os.link(src, dst)
        else:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link_or_copy)


def run_page(page: str, folder: Path) -> str:
    """Runs the page's blocks in ``folder``; returns their stdout and stderr, in order."""
    env = {**os.environ, **ENV, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    output = []
    for block in blocks(page):
        if block.needs:
            continue
        tag = f"{Path(page).stem}_{block.index}"
        script, expected = with_error_checks(shrunk(block.text), tag)
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (f"{page}, shell block {block.index} failed (exit status {done.returncode}):\n"
                                      f"{script}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        for name, message in expected:
            status = (folder / f"{name}.status").read_text().split()
            stderr = (folder / name).read_text()
            assert status == ["2"], f"{page}, block {block.index}: exit status {status} where an error is shown"
            assert _shows(message, stderr), f"{page}, block {block.index}: shows {message!r}, prints {stderr!r}"
        output.append(done.stdout + done.stderr)
    return "\n".join(output)


def _uses_the_demo(page: str) -> bool:
    return any("runs/demo/" in re.sub(r"#.*", "", b.text) for b in blocks(page) if not b.needs)


@pytest.fixture(scope="session")
def readme_folder(tmp_path_factory) -> tuple[Path, str]:
    """The folder the README's blocks leave (the demo trained, evaluated, fine-tuned, a video tracked), and their
    output."""
    folder = checkout(tmp_path_factory.mktemp("readme"))
    return folder, run_page("README.md", folder)


def _summary(path: Path) -> dict:
    return json.loads(path.read_text())


def check_readme(folder: Path, output: str) -> None:
    assert (folder / "runs/demo/phase_1/checkpoints/checkpoint_16/model.safetensors").is_file()
    assert "free-running validation after epoch 16: IoU" in output
    demo = _summary(folder / "output/evaluation/demo/summary.json")
    assert sorted(demo["trackers"]) == ["demo", "first-box"]
    assert len(demo["trackers"]["demo"]["per_sequence"]) == 8  # the demo's test split: 4 books, 4 coins
    mine = _summary(folder / "output/evaluation/finetune_demo/summary.json")
    # the custom folder's held-out split: 1 of the 5 sequences per class, chosen by a hash of the name
    assert sorted(mine["trackers"]["finetune_demo"]["per_sequence"]) == ["ball-1", "toy-2"]
    assert {p.name for p in (folder / "output/track/coin-3").iterdir()} == {"coin-3.txt", "annotated.mp4",
                                                                           "contact_sheet.png"}


def check_benchmark_data(folder: Path, output: str) -> None:
    nfs, windows = (_summary(folder / "output" / name / "summary.json") for name in ("nfs", "nfs_windows"))
    assert sorted(nfs["trackers"]["first-box"]["per_sequence"]) == ["bee", "car_camaro", "car_jumping"]
    assert (nfs["partial"]["sequences"], nfs["partial"]["of"], len(nfs["partial"]["missing"])) == (3, 100, 97)
    assert windows["trackers"]["first-box"]["per_sequence"] == nfs["trackers"]["first-box"]["per_sequence"]
    assert "warning: 3 of the 100 sequences of NFS (30 fps) are scored (97 missing under" in output
    assert "the summary scored 3 of the 100 sequences of nfs test only (it is marked partial)" in output


def check_data_sources(folder: Path, output: str) -> None:
    summary = _summary(folder / "output" / "my_lasot" / "summary.json")
    assert sorted(summary["trackers"]["first-box"]["per_sequence"]) == ["cup-1", "cup-4"]
    assert not (folder / "data" / "synthetic_lasot").exists()  # the demo's generator did not run


def check_tracking(folder: Path, output: str) -> None:
    scored = _summary(folder / "output" / "scored" / "summary.json")  # seqtrack-track's result file, scored
    assert list(scored["trackers"]) == ["coin-3"] and list(scored["trackers"]["coin-3"]["per_sequence"]) == ["coin-3"]


def check_training(folder: Path, output: str) -> None:
    assert "resuming from" in output and "phase_2/checkpoints/checkpoint_18 (full state): epoch 19" in output
    assert (folder / "runs/demo/phase_2/checkpoints/checkpoint_19").is_dir()
    compared = _summary(folder / "output/finetune_compare/summary.json")  # before and after fine-tuning
    assert sorted(compared["trackers"]) == ["after", "before"]


# What a page's blocks must have made, beyond exiting 0.
CHECKS = {"docs/benchmark_data.md": check_benchmark_data, "docs/data_sources.md": check_data_sources,
          "docs/tracking.md": check_tracking, "docs/training.md": check_training}


def test_the_readmes_shell_blocks_run_as_written(readme_folder):
    check_readme(*readme_folder)


@pytest.mark.parametrize("page", [p for p in PAGES if p != "README.md"])
def test_the_pages_shell_blocks_run_as_written(page, tmp_path, request):
    runnable = [b for b in blocks(page) if not b.needs]
    if not runnable:
        pytest.skip(f"{page}: every shell block needs what this machine lacks: "
                    + "; ".join(sorted({b.needs for b in blocks(page)})))
    folder = checkout(tmp_path / "checkout")
    if _uses_the_demo(page):
        readme, _ = request.getfixturevalue("readme_folder")
        for name in ("runs/demo", "data/synthetic_lasot"):
            copy_run(readme / name, folder / name)
    output = run_page(page, folder)
    if page in CHECKS:
        CHECKS[page](folder, output)


def test_every_shell_block_runs_or_says_what_it_needs():
    for page in PAGES:
        for block in blocks(page):
            first = block.text.splitlines()[0] if block.text.strip() else ""
            assert block.needs or not first.lstrip().startswith("# need"), f"{page}, block {block.index}: {first!r}"
    assert not re.search(r"^```(shell|zsh)$", "".join((REPO / p).read_text() for p in PAGES), re.M), \
        "write shell blocks as ```bash"


def test_every_shrink_entry_shrinks_a_runnable_block():
    texts = [b.text for p in PAGES for b in blocks(p) if not b.needs]
    for pattern, _, reason in SHRINK:
        assert reason and any(_words(pattern).search(text) for text in texts), f"no runnable block holds {pattern!r}"
