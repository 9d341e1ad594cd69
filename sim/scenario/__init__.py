"""Scenario model (pure): scenario files, address pools and the seeded swarm plan."""
