from seqtrack_accel.cli.bench_track import main

if __name__ == "__main__":
    main()
