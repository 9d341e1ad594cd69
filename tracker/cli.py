"""Subcommands of `peernode` provided by `tracker`: ``peernode tracker``."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from support.hostport import format_hostport, parse_hostport
from tracker.config import TrackerConfig
from tracker.errors import ConfigError

if TYPE_CHECKING:  # the server (and Redis) load only when `peernode tracker` runs
    from tracker.server import RunningTracker

__all__ = ["register", "run_tracker", "serve_until_signalled"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this package's subcommands to the `peernode` parser."""
    p = sub.add_parser(
        "tracker",
        help="run the private tracker (HTTPS, admits rental holders by client certificate)",
        description="Run the private BitTorrent tracker: HTTPS with client certificates issued"
        " by the operator CA; announce path /announce, scrape path /scrape. The CRL and the"
        " library are reloaded when their files change and on SIGHUP; SIGINT/SIGTERM shut"
        " down gracefully (a second signal stops at once).",
    )
    p.add_argument(
        "--ca",
        required=True,
        type=Path,
        metavar="CA.pem",
        help="operator CA certificate: client certificates must chain to it",
    )
    p.add_argument(
        "--cert",
        required=True,
        type=Path,
        metavar="server.pem",
        help="the tracker's server certificate",
    )
    p.add_argument(
        "--key",
        required=True,
        type=Path,
        metavar="server.key",
        help="the server certificate's private key (mode 0600)",
    )
    p.add_argument(
        "--library",
        required=True,
        type=Path,
        metavar="DIR",
        help="directory of the films' .torrent files",
    )
    p.add_argument("--crl", type=Path, metavar="crl.pem", help="the CA's revocation list")
    p.add_argument("--no-crl", action="store_true",
                   help="run without a CRL: nothing is ever revoked (must be said explicitly)")
    p.add_argument(
        "--listen",
        required=True,
        action="append",
        metavar="HOST:PORT",
        help="address to serve HTTPS on (port 0 picks a free one); give it again for more"
        " addresses; [::]:PORT serves IPv6 and IPv4 on one port. Serve both families so"
        " that nodes announce both of their addresses",
    )
    p.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve Prometheus metrics over plain HTTP here, with /members.json, /hosts.json"
        " and /unreachable.json (keep it on localhost, or on an operator network with"
        " --metrics-allow)",
    )
    p.add_argument(
        "--metrics-allow",
        action="append",
        metavar="CIDR",
        help="only hosts in this prefix may connect to the metrics listener (others are"
        " disconnected at once); give it again for more prefixes; loopback is not implied,"
        " list it (default: anyone who can reach the listener, or metrics_allow in --config)",
    )
    p.add_argument(
        "--redis",
        metavar="redis://HOST:PORT/DB",
        help="keep swarm state in this Redis, shared with other trackers using it"
        " (default: in memory)",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="serve with N processes on the same ports (SO_REUSEPORT), so that one host uses"
        " all its cores; needs --redis (default 1, or workers in --config)",
    )
    p.add_argument(
        "--no-locality",
        action="store_true",
        help="hand out peers blind to their networks (same as [swarm] locality = false;"
        " for comparison runs: by default peers on the requester's network come first)",
    )
    p.add_argument(
        "--config",
        type=Path,
        metavar="tracker.toml",
        help="TOML file of tunables (intervals, limits, timeouts)",
    )
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> TrackerConfig:
    """The tracker configuration from the command line (flags win over ``--config``).

    Raises `ConfigError` for a bad file and `support.errors.InputError` for a bad address.
    """
    if args.crl is None and not args.no_crl:
        raise ConfigError("give --crl crl.pem (the CA's revocation list), or --no-crl to run"
                          " with nothing ever revoked")
    if args.crl is not None and args.no_crl:
        raise ConfigError("--crl and --no-crl contradict each other")
    (listen_host, listen_port), *more_listen = [parse_hostport(a) for a in args.listen]
    metrics_host, metrics_port = parse_hostport(args.metrics) if args.metrics else (None, None)
    flags = {
        "ca_path": args.ca,
        "cert_path": args.cert,
        "key_path": args.key,
        "library_dir": args.library,
        "crl_path": args.crl,
        "listen_host": listen_host,
        "listen_port": listen_port,
        "more_listen": tuple(more_listen) or None,
        "metrics_host": metrics_host,
        "metrics_port": metrics_port,
        "metrics_allow": tuple(args.metrics_allow) if args.metrics_allow else None,
        "redis_url": args.redis,
        "workers": args.workers,
    }
    if args.config is not None:
        config = TrackerConfig.from_toml(args.config, **flags)
    else:
        config = TrackerConfig.from_mapping({}, **flags)
    if args.no_locality:
        config = dataclasses.replace(
            config, swarm=dataclasses.replace(config.swarm, locality=False)
        )
    return config


async def _serve_then_stop(
    config: TrackerConfig,
    done: trio.CancelScope,
    *,
    task_status: trio.TaskStatus[RunningTracker] = trio.TASK_STATUS_IGNORED,
) -> None:
    from tracker.server import serve_tracker

    await serve_tracker(config, task_status=task_status)
    done.cancel()  # the graceful shutdown finished: stop listening for signals


async def _handle_signals(
    signals: AsyncIterator[int], running: RunningTracker, done: trio.CancelScope
) -> None:
    async for signum in signals:
        if signum == signal.SIGHUP:
            running.reload()
        elif running.stopping:
            done.cancel()  # a second signal: stop now
        else:
            sys.stderr.write("shutting down\n")
            running.shutdown()


def _say_started(config: TrackerConfig, running: RunningTracker) -> None:
    sys.stderr.write(f"listening on {running.announce_url}\n")
    if running.metrics_port is not None and config.metrics_host is not None:
        where = format_hostport(config.metrics_host, running.metrics_port)
        sys.stderr.write(f"metrics on http://{where}/metrics\n")
    sys.stderr.flush()


async def serve_until_signalled(
    config: TrackerConfig, on_started: Callable[[TrackerConfig, RunningTracker], None]
) -> None:
    """Serve ``config``; SIGHUP reloads, SIGINT/SIGTERM shut down gracefully (a second
    one stops at once). ``on_started`` is called once the tracker accepts connections."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            done = nursery.cancel_scope
            running: RunningTracker = await nursery.start(_serve_then_stop, config, done)
            on_started(config, running)
            nursery.start_soon(_handle_signals, signals, running, done)


def _single_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside nested groups, or ``None`` if there are several."""
    if len(group.exceptions) != 1:
        return None
    (inner,) = group.exceptions
    return _single_error(inner) if isinstance(inner, BaseExceptionGroup) else inner


def run_tracker(
    config: TrackerConfig,
    on_started: Callable[[TrackerConfig, RunningTracker], None] = _say_started,
) -> None:
    """Serve ``config`` in this process until signalled (`serve_until_signalled`).

    Raises what `serve_tracker` raises at startup, unwrapped from trio's groups.
    """
    try:
        trio.run(serve_until_signalled, config, on_started)
    except BaseExceptionGroup as group:
        # a startup failure arrives wrapped by the nursery; unwrap it for `error: ...`
        error = _single_error(group)
        if error is None:
            raise
        raise error from None


def run(args: argparse.Namespace) -> int:
    """``peernode tracker``: serve until SIGINT/SIGTERM; returns the exit status.

    Raises `TrackerError`, `certs.CertsError` or `OSError` (reported by the CLI
    as one ``error:`` line) if the tracker cannot start.
    """
    config = config_from_args(args)
    if config.workers > 1:
        from tracker.workers import run_workers

        return run_workers(config)
    run_tracker(config)
    return 0
