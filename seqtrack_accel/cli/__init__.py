"""The command-line programs (``seqtrack-train``, ``seqtrack-evaluate``, ...) and what they share."""

from __future__ import annotations

import argparse


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the package's one flag style: ``--multi_word`` (as ``accelerate launch`` and Hugging Face
    scripts spell them), also accepted as ``--multi-word``."""

    def add_argument(self, *names, **kwargs):
        aliases = [n.replace("_", "-") for n in names if n.startswith("--") and "_" in n]
        return super().add_argument(*names, *aliases, **kwargs)
