"""Command-line options of ``python -m serving.router`` and the Router they describe."""

from __future__ import annotations

import argparse

from serving.router.discovery import (
    DiscoveryError,
    UpstreamSource,
    control_token,
    controller_source,
    dns_source,
    endpointslice_source,
    parse_static,
    static_source,
)
from serving.router.proxy import Router, RouterSettings
from serving.router.upstreams import Pool, PoolSettings


def _on_off(value: str) -> bool:
    if value not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {value!r}")
    return value == "on"


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return number


def _retries(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 10:
        raise argparse.ArgumentTypeError(f"must be between 0 and 10, got {value}")
    return number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m serving.router", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--discovery", choices=("local", "static", "kubernetes"), default="static")
    p.add_argument("--upstream", action="append", default=[], help="ROLE[@ZONE]=URL (static)")
    p.add_argument("--control-url", help="local controller URL (token from RECDRILL_CONTROL_TOKEN)")
    p.add_argument("--store", help="model store URL: seeds the fallback's popular items")
    p.add_argument("--model", default="recommender")
    p.add_argument("--retries", type=_retries, default=2, help="extra tries; 0 turns retries off")
    p.add_argument("--try-timeout", type=_positive, default=0.25, help="seconds per try")
    p.add_argument("--deadline", type=_positive, default=1.0, help="seconds for all tries")
    p.add_argument(
        "--hedge-after", type=float, default=0.0, help="seconds before a hedged try; 0 is off"
    )
    p.add_argument("--standby-threshold", type=float, default=0.72)
    p.add_argument(
        "--expected-active",
        type=int,
        default=0,
        help="active replicas the deployment runs: the standby threshold is a share of "
        "these, since lost replicas leave discovery (0: the replicas discovery lists)",
    )
    p.add_argument("--fallback", type=_on_off, default=True, help="on|off")
    p.add_argument("--ejection", type=_on_off, default=True, help="on|off")
    p.add_argument("--eject-after", type=int, default=2, help="timeouts/5xx in a row to eject")
    p.add_argument("--max-ejected-share", type=float, default=0.5)
    p.add_argument("--retry-budget", type=float, default=50.0, help="retry tokens (bucket size)")
    p.add_argument("--probe-interval", type=_positive, default=0.2)
    p.add_argument("--probe-timeout", type=_positive, default=0.25)
    p.add_argument("--discovery-interval", type=_positive, default=0.2)
    p.add_argument("--k8s-namespace", default="recdrill")
    p.add_argument("--k8s-active-service", default="recdrill-active")
    p.add_argument("--k8s-standby-service", default="recdrill-standby")
    p.add_argument("--k8s-mode", choices=("endpointslices", "dns"), default="endpointslices")
    p.add_argument("--k8s-port-name", default="http")
    p.add_argument("--k8s-port", type=int, default=8080, help="replica port for DNS mode")
    p.add_argument("--log-level", default="warning")
    return p


def router_argv(python: str = "python", **options: object) -> list[str]:
    """The command that starts a router: the one place launchers (local controller,
    Kubernetes pod spec) build it. ``options`` are the parser's names (``k8s_namespace=…``);
    a list repeats its flag and a bool becomes on/off. An option the router does not
    have is a TypeError, so a launcher cannot pass a flag that only fails at start-up."""
    flags = {a.dest: a.option_strings[0] for a in parser()._actions if a.option_strings}
    args: list[str] = []
    for name, value in options.items():
        if name not in flags or name == "help":
            raise TypeError(f"serving.router has no option {name!r}")
        for item in value if isinstance(value, list | tuple) else [value]:
            text = ("on" if item else "off") if isinstance(item, bool) else str(item)
            args += [flags[name], text]
    return [python, "-m", "serving.router", *args]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if args.discovery == "static" and not args.upstream:
        p.error("--discovery static needs at least one --upstream ROLE[@ZONE]=URL")
    if args.discovery == "local" and not args.control_url:
        p.error("--discovery local needs --control-url")
    if args.expected_active < 0:
        p.error(f"--expected-active must be 0 or more, got {args.expected_active}")
    if not 0 <= args.standby_threshold <= 1:
        p.error(f"--standby-threshold must be between 0 and 1, got {args.standby_threshold}")
    try:
        args.source = _source(args)
    except DiscoveryError as exc:
        p.error(str(exc))
    return args


def _source(args: argparse.Namespace) -> UpstreamSource:
    if args.discovery == "static":
        return static_source(parse_static(args.upstream))
    if args.discovery == "local":
        return controller_source(args.control_url, control_token())
    services = {"active": args.k8s_active_service, "standby": args.k8s_standby_service}
    if args.k8s_mode == "dns":
        return dns_source(args.k8s_namespace, services, args.k8s_port)
    return endpointslice_source(args.k8s_namespace, services, args.k8s_port_name)


def build_router(args: argparse.Namespace) -> Router:
    pool = Pool(
        PoolSettings(
            standby_threshold=args.standby_threshold,
            expected_active=args.expected_active,
            ejection=args.ejection,
            eject_after=max(1, args.eject_after),
            max_ejected_share=args.max_ejected_share,
            probe_interval_s=args.probe_interval,
            probe_timeout_s=args.probe_timeout,
        )
    )
    settings = RouterSettings(
        retries=args.retries,
        try_timeout=args.try_timeout,
        deadline=args.deadline,
        fallback=args.fallback,
        discovery_interval=args.discovery_interval,
        retry_budget=args.retry_budget,
        hedge_after=max(0.0, args.hedge_after),
        store=args.store,
        model=args.model,
    )
    return Router(settings, pool, args.source)
