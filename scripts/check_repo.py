"""Thin wrapper: see seqtrack_accel/cli/check_repo.py (also installed as a console script)."""
from seqtrack_accel.cli.check_repo import main

if __name__ == "__main__":
    raise SystemExit(main())
