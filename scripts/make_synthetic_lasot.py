"""Thin wrapper: see seqtrack_accel/cli/make_synthetic_lasot.py (also installed as a console script)."""
from seqtrack_accel.cli.make_synthetic_lasot import main

if __name__ == "__main__":
    raise SystemExit(main())
