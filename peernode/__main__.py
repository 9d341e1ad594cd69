"""``python -m peernode``: the same as the `peernode` console script."""

from .cli import main

raise SystemExit(main())
