"""A plain libtorrent session that maps its listen port (``python -m tests.netlab.portmap``).

    portmap --listen-port PORT (--upnp | --natpmp) [--timeout S]

Listens on 0.0.0.0:PORT, turns on only the chosen mapping protocol and prints one JSON
line per TCP mapping result: {"external_port", "protocol"} from a portmap_alert or
{"error"} from a portmap_error_alert; then keeps the session (and the listen socket,
and the mapping) alive until killed. Exit 1 if nothing came within the timeout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import libtorrent as lt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen-port", type=int, required=True)
    how = ap.add_mutually_exclusive_group(required=True)
    how.add_argument("--upnp", action="store_true")
    how.add_argument("--natpmp", action="store_true")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    session = lt.session({
        "listen_interfaces": f"0.0.0.0:{args.listen_port}",
        "enable_upnp": args.upnp,
        "enable_natpmp": args.natpmp,
        "enable_dht": False,
        "enable_lsd": False,
        "alert_mask": lt.alert_category.port_mapping | lt.alert_category.error,
    })
    deadline = time.monotonic() + args.timeout
    reported = False
    while True:
        session.wait_for_alert(500)
        for alert in session.pop_alerts():
            tcp = getattr(alert, "map_protocol", None) == lt.portmap_protocol.tcp
            if isinstance(alert, lt.portmap_alert) and tcp:
                line = {"external_port": alert.external_port,
                        "protocol": "upnp" if alert.map_transport == lt.portmap_transport.upnp
                        else "natpmp"}
            elif isinstance(alert, lt.portmap_error_alert):
                line = {"error": alert.message()}
            else:
                continue
            print(json.dumps(line), flush=True)
            reported = True
        if not reported and time.monotonic() > deadline:
            print(json.dumps({"error": "no port mapping result"}), flush=True)
            return 1


if __name__ == "__main__":
    sys.exit(main())
