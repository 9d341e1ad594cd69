"""The node runtime a customer embeds: libtorrent session, alert pump, events, downloads,
offload accounting, `open_node`.
"""
