from seqtrack_accel.cli.make_synthetic_lasot import main

if __name__ == "__main__":
    main()
