"""The local daemon: one node holding many rentals, driven by a control API over HTTP."""
