"""Run the fake upstream in the foreground, seeded from a v4 dump (for benchmarks):

    python -m tests.fakeupstream --dump DUMP.json --port 8765 [--latency 0.1] [--rest-limit N]
        [--graphql-limit N] [--window SECONDS] [--token-required]

Control endpoints: GET /_fake/stats, POST /_fake/reset-log, POST /_fake/push?fraction=0.1&seed=1,
POST /_fake/limits?rest=N&graphql=N&window=S.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys

from .server import make_server
from .state import FakeState


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakeupstream", description=__doc__.splitlines()[0])
    parser.add_argument("--dump", required=True, help="Django Packages v4 dump (gen_dataset.py output)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    parser.add_argument("--rest-limit", type=int, default=5000)
    parser.add_argument("--anonymous-limit", type=int, default=60)
    parser.add_argument("--graphql-limit", type=int, default=5000)
    parser.add_argument("--window", type=float, default=3600.0, help="rate-limit window, seconds")
    parser.add_argument("--rate-limit-status", type=int, default=403, choices=(403, 429))
    parser.add_argument("--token-required", action="store_true", help="answer anonymous REST calls 401")
    args = parser.parse_args(argv)

    with open(args.dump, encoding="utf-8") as fh:
        dump = json.load(fh)
    state = FakeState.from_dump(
        dump,
        rest_limit=args.rest_limit,
        anonymous_limit=args.anonymous_limit,
        graphql_limit=args.graphql_limit,
        window=args.window,
        latency=args.latency,
        rate_limit_status=args.rate_limit_status,
    )
    state.token_required = args.token_required
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    print(
        f"fake upstream on http://{args.host}:{port}: {len(state.repos())} repos, "
        f"github=/github graphql=/github/graphql pypi=/pypi control=/_fake/",
        file=sys.stderr,
        flush=True,
    )
    make_server(state, log_level="info").run(sockets=[sock])


if __name__ == "__main__":
    main()
