"""Thin wrapper: see seqtrack_accel/cli/create_hf_repo.py (also installed as a console script)."""
from seqtrack_accel.cli.create_hf_repo import main

if __name__ == "__main__":
    raise SystemExit(main())
