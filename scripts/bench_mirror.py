from seqtrack_accel.cli.bench_mirror import main

if __name__ == "__main__":
    main()
