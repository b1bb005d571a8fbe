"""Track and score LaSOT: see ``seqtrack_accel.cli.evaluate`` (console script ``seqtrack-evaluate``)."""
from seqtrack_accel.cli.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
