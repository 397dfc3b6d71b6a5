"""router_argv: the one builder of the router's command line, checked against its parser."""

from __future__ import annotations

import pytest

from serving.router.cli import parser, router_argv


def test_options_round_trip_through_the_parser():
    argv = router_argv(
        "/py",
        port=9000,
        discovery="static",
        upstream=["active@a=http://127.0.0.1:1", "standby=http://127.0.0.1:2"],
        retries=0,
        fallback=False,
        ejection=True,
        try_timeout=0.1,
        k8s_namespace="shop",
    )
    assert argv[:3] == ["/py", "-m", "serving.router"]
    args = parser().parse_args(argv[3:])
    assert (args.port, args.discovery, args.retries, args.try_timeout) == (9000, "static", 0, 0.1)
    assert args.upstream == ["active@a=http://127.0.0.1:1", "standby=http://127.0.0.1:2"]
    assert (args.fallback, args.ejection, args.k8s_namespace) == (False, True, "shop")


def test_an_option_the_router_lacks_is_refused_at_build_time():
    with pytest.raises(TypeError, match="no option 'retry'"):
        router_argv(retry=2)
