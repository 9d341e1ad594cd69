"""The `peernode` command line: one module per group of subcommands, `main` in `main`."""
