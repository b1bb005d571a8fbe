"""Thin wrapper: see seqtrack_accel/cli/upload_checkpoint.py (also installed as a console script)."""
from seqtrack_accel.cli.upload_checkpoint import main

if __name__ == "__main__":
    raise SystemExit(main())
