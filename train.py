"""Entry point: ``accelerate launch train.py --config configs/seqtrack_b192.yaml --phase 1``."""

import sys

from seqtrack_accel.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
