"""What runs a planned swarm: local processes on loopback or docker containers."""
