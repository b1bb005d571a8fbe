from seqtrack_accel.cli.bench_train import main

if __name__ == "__main__":
    main()
