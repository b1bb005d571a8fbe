"""The command-line programs (``seqtrack-train``, ``seqtrack-evaluate``, ...) and what they share."""

from __future__ import annotations

import argparse


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the package's one flag style: ``--multi_word`` (as ``accelerate launch`` and Hugging Face
    scripts spell them), also accepted as ``--multi-word``."""

    def add_argument(self, *names, **kwargs):
        aliases = [n.replace("_", "-") for n in names if n.startswith("--") and "_" in n]
        return super().add_argument(*names, *aliases, **kwargs)


DTYPES = ("bfloat16", "float32")  # what the tracker runs in: float32, or bfloat16 under autocast


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device`` (default: cuda where there is one) and ``--dtype`` of the programs that run the tracker; turn
    ``--dtype`` into a torch dtype with ``torch_dtype``."""
    import torch

    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="bfloat16 runs under autocast")


def torch_dtype(name: str):
    """``"float32"`` -> ``torch.float32``, ``"bfloat16"`` -> ``torch.bfloat16``."""
    import torch

    return getattr(torch, name)

# What bad input raises (a missing or unreadable file, a wrong value, an absent optional extra): the programs print
# one error_line for it and exit with status 2, the app shows it in the page.
INPUT_ERRORS = (ValueError, OSError, KeyError, ImportError)


def error_line(error: BaseException) -> str:
    """The one ``error: ...`` line a program prints for bad input (a KeyError's message without its quotes)."""
    return f"error: {error.args[0] if isinstance(error, KeyError) and error.args else error}"
