"""Small helpers every package uses: atomic and 0600 file writes, HOST:PORT and RATE
parsing, running peernode's own commands as child processes, lazy package attributes.

Imports nothing of the project. This ``__init__`` imports nothing at all, so a pure core
that needs `support.hostport` does not load trio through `support.processes`.
"""
