"""Random changes to the fake kernel, as someone at a shell would make them (no store
change): the targeted-update tests apply their events and compare with a full read."""

from __future__ import annotations

import random

from ipvlan_tui.engines.fake import FakeKernel
from ipvlan_tui.errors import EngineError


def random_kernel_change(rng: random.Random, ctl, n: int) -> None:
    """One thing someone could do to the kernel by hand (the store is not touched)."""
    k: FakeKernel = ctl.kernel
    inv = k.inventory()
    host = [l for l in inv.links if not l.netns]
    devices = [l.name for l in host if l.kind == "device" and l.name != "lo"]
    namespaces = list(inv.namespaces)
    choice = rng.randrange(9)
    try:
        if choice == 0:
            k.create_dummy(f"dum{n}")
        elif choice == 1 and devices:
            k.create_vlan(rng.choice(devices), 100 + n, f"v{n}")
        elif choice == 2:
            victims = [l.name for l in host if l.name not in ("lo", "eth0")]
            if victims:
                k.delete_link(rng.choice(victims))
        elif choice == 3 and host:
            k.add_address(rng.choice(host).name, f"10.200.{n % 250}.1/24")
        elif choice == 4:
            k.create_netns(f"ns{n}")
        elif choice == 5 and namespaces:
            k.delete_netns(rng.choice(namespaces))
        elif choice == 6 and namespaces and devices:
            ns = rng.choice(namespaces)
            if not k.link_exists("eth0", ns):
                k.create_endpoint_link(ns, rng.choice(devices + ["eth0.10"]),
                                       rng.choice(("l2", "l3")), rng.choice(("bridge", "private")))
        elif choice == 7:
            eth0s = [l for l in inv.links if l.netns and l.name == "eth0"]
            if eth0s:
                l = rng.choice(eth0s)
                k.configure_endpoint(l.netns, "eth0", (f"10.9.{n % 250}.2/24",), ())
        elif choice == 8:
            eth0s = [l for l in inv.links if l.netns and l.name == "eth0"]
            if eth0s:
                l = rng.choice(eth0s)
                k.delete_link("eth0", l.netns)
    except EngineError:
        pass  # refused as the kernel would (EBUSY, ENODEV): no event, nothing to show
