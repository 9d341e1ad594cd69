"""Swarm state shared by several trackers in Redis: the store, its Lua scripts, a
circuit breaker and the outage policy.
"""
