"""Smoke check of the test bed: ``python -m tests.testbed.smoke`` from the repository.

Brings up a master and three controllers, pings them, installs haproxy in
ctrl-1 with apt from the image's offline repository, installs rabbitmq-server
on ctrl-1 through Salt's pkg module, prints timings and tears everything down.
``--power-cycle`` also kills ctrl-2 (power loss) and boots it again.
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.testbed.harness import Testbed, TestbedError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controllers", type=int, default=3)
    parser.add_argument("--networks", default="srv,api", help="comma-separated network names")
    parser.add_argument("--power-cycle", action="store_true", help="also kill ctrl-2 and boot it again")
    args = parser.parse_args(argv)

    timings: dict[str, float] = {}
    started = time.monotonic()
    tb = Testbed(controllers=args.controllers, networks=args.networks.split(","))
    try:
        with tb:
            timings["testbed up"] = time.monotonic() - started
            for name, net in tb.networks.items():
                print(f"network {name}: {net.cidr} ({net.docker_name}), vip {net.vip}")
            for node in tb.nodes.values():
                print(f"node {node.name}: {node.container} {node.addresses} {node.interfaces}")

            t = time.monotonic()
            pong = tb.salt("*", "test.ping", timeout=30)
            assert sorted(pong) == tb.controllers and all(v is True for v in pong.values()), pong
            timings["test.ping"] = time.monotonic() - t

            t = time.monotonic()
            tb.sh("ctrl-1", "apt-get update -q && apt-get install -y -q haproxy && haproxy -v", check=True)
            timings["apt-get install haproxy (ctrl-1)"] = time.monotonic() - t

            t = time.monotonic()
            ret = tb.salt("ctrl-1", "pkg.install", "rabbitmq-server", timeout=600)
            version = tb.salt("ctrl-1", "pkg.version", "rabbitmq-server", timeout=60)["ctrl-1"]
            if not version:
                raise TestbedError(f"rabbitmq-server is not installed on ctrl-1: {ret}")
            state = tb.exec("ctrl-1", ["systemctl", "is-active", "rabbitmq-server"]).stdout.strip()
            print(f"ctrl-1: rabbitmq-server {version} installed by salt, service {state}")
            timings["salt pkg.install rabbitmq-server (ctrl-1)"] = time.monotonic() - t

            if args.power_cycle:
                t = time.monotonic()
                tb.kill("ctrl-2")
                answers = tb.salt("ctrl-*", "test.ping", timeout=5, check=False)
                assert answers.get("ctrl-2") is not True, answers
                tb.start("ctrl-2")
                timings["kill + start ctrl-2 until it answers"] = time.monotonic() - t

            print("site facts:", tb.site_facts())
        timings["teardown"] = tb.timings["down"]
    except TestbedError as exc:
        print(f"smoke check FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc}); the test bed was removed", file=sys.stderr)
        return 130
    timings["total"] = time.monotonic() - started

    print("\nup phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in tb.timings.items() if k not in ("up", "down")))
    for name, seconds in timings.items():
        print(f"{name:45s} {seconds:6.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
