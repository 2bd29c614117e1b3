"""``m2c cluster start | stop | status``: a local Ray cluster kept between commands.

Without a cluster, every ``m2c settle`` starts an embedded Ray (seconds) and stops it.
``m2c cluster start`` runs one on this machine (``ray start --head`` on loopback,
recorded in ``$M2C_HOME/cluster.json``); from then on ``settle``, ``rebill``,
``demo`` and ``serve`` join it (unless ``RAY_ADDRESS`` names another cluster), and
``m2c cluster stop`` ends exactly its processes. See :mod:`cluster.local`.
"""
from __future__ import annotations

import argparse
import sys

from ..settings import Settings
from .backend import local_only
from .output import add_format, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cluster", help="a local Ray cluster kept running between commands",
        description="Start, stop or inspect a local Ray cluster that m2c commands join "
                    "instead of starting an embedded Ray each time (RAY_ADDRESS, when set, "
                    "names the cluster to join instead).")
    sub = p.add_subparsers(dest="cluster_command", required=True)
    start = sub.add_parser("start", help="start the local cluster (no-op if it runs)")
    start.add_argument("--cpus", type=int, default=None, metavar="N",
                       help="CPUs the cluster offers (default: M2C_WORKERS, else every CPU)")
    add_format(start, ("text", "json"))
    start.set_defaults(handler=cmd_start)
    stop = sub.add_parser("stop", help="stop the local cluster (its processes only)")
    add_format(stop, ("text", "json"))
    stop.set_defaults(handler=cmd_stop)
    status = sub.add_parser("status", help="is the local cluster running, and where")
    add_format(status, ("text", "json"))
    status.set_defaults(handler=cmd_status)


_WHY = "it manages Ray processes on this machine"


@local_only("cluster start", _WHY)
def cmd_start(args: argparse.Namespace, settings: Settings) -> int:
    from cluster import local
    if args.cpus is not None and args.cpus < 1:
        from engine.errors import InputError
        raise InputError(f"--cpus must be at least 1, got {args.cpus}")
    state = settings.local_cluster_file
    if local.read(state) is None:
        print("starting a local Ray cluster (ray start --head; a few seconds)...", file=sys.stderr)
    cluster, started = local.start(state, num_cpus=args.cpus or settings.workers,
                                   cwd=settings.home)
    doc = {"status": "started" if started else "running", **cluster.to_dict(),
           "state_file": str(state)}
    emit(args, doc, f"{'started' if started else 'already running:'} {local.describe(cluster)}\n"
                    f"m2c commands using M2C_HOME={settings.home} join it; "
                    "`m2c cluster stop` ends it")
    return 0


@local_only("cluster stop", _WHY)
def cmd_stop(args: argparse.Namespace, settings: Settings) -> int:
    from cluster import local
    cluster, ended = local.stop(settings.local_cluster_file)
    doc = {"status": "stopped" if cluster else "not running", "processes": ended,
           "address": cluster.address if cluster else None}
    emit(args, doc, f"stopped the local Ray cluster at {cluster.address} ({ended} processes)"
                    if cluster else "no local Ray cluster was running")
    return 0


@local_only("cluster status", _WHY)
def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from cluster import local
    cluster = local.read(settings.local_cluster_file)
    doc = {"status": "running" if cluster else "not running",
           **(cluster.to_dict() if cluster else {}), "state_file": str(settings.local_cluster_file),
           "ray_address": settings.ray_address}
    if cluster:
        text = local.describe(cluster)
    else:
        text = "no local Ray cluster (`m2c cluster start` starts one; commands start an embedded Ray meanwhile)"
    if settings.ray_address:
        text += f"\nnote: RAY_ADDRESS={settings.ray_address} is set; commands join that cluster instead"
    emit(args, doc, text)
    return 0
