"""``python -m peernode``: the same as the `peernode` console script."""

from peernode.cli.main import main

raise SystemExit(main())
