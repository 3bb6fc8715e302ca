"""The console's targeted updates on a real kernel (issue 7): links added, changed,
given an address, a VLAN made and a link deleted with `ip` reach the panels
through netlink events and inventory.read_links, without full reads, and the
view ends as a fresh inventory reads the namespace."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from tests.patience import patient

pytestmark = pytest.mark.kernel
LAB_SECONDS = 100  # its expected time in the TCG lab VM (balances the lab VMs)

SIZE = (160, 48)
SLOW = 240.0


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def host_view(links) -> set[tuple]:
    return {(l.name, l.kind, l.mtu, l.state, tuple(sorted(l.addresses)), l.parent_name, l.vlan_id)
            for l in links if not l.netns}


async def _drive(ctl, fresh) -> dict:
    from ipvlan_tui.tui.app import IpvlanApp

    app = IpvlanApp(ctl, watch=True)

    async def until(cond, what: str) -> None:
        end = time.monotonic() + SLOW
        while not cond():
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}; fallbacks {app.fallbacks}")
            await pilot.pause(0.05)

    def row(panel: str, key: str):
        return next((r for r in app.query_one(f"#table-{panel}").items if r.key == key), None)

    def quiet() -> bool:
        return (not app._refreshing and app._coalesce_timer is None
                and not app._event_posted.is_set() and not app._ev_batch)

    async with app.run_test(size=SIZE) as pilot:
        patient(pilot, SLOW)
        await until(lambda: app.loaded.is_set() and app.events_in >= 1 and quiet(), "a quiet start")
        await pilot.pause(1.0)
        await until(quiet, "a quiet start")
        reads, patches = app.live.full_reads, app.patches_applied
        ip("link", "add", "tgt0", "type", "dummy")
        await until(lambda: row("links", "link:tgt0") is not None, "tgt0's row")
        ip("link", "set", "tgt0", "mtu", "1400", "up")
        await until(lambda: row("links", "link:tgt0").obj.mtu == 1400, "tgt0's MTU")
        ip("addr", "add", "10.66.0.1/24", "dev", "tgt0")
        await until(lambda: "10.66.0.1/24" in row("links", "link:tgt0").obj.addresses, "tgt0's address")
        ip("link", "add", "link", "eth0", "name", "eth0.66", "type", "vlan", "id", "66")
        await until(lambda: row("vlans", "vlan:eth0.66") is not None, "the VLAN's row")
        await until(lambda: row("links", "link:eth0").cells[6].plain == "1", "eth0's VLAN count")
        ip("link", "del", "tgt0")
        await until(lambda: row("links", "link:tgt0") is None, "tgt0's row gone")
        await until(quiet, "the last update")
        # Eventually right: the kernel may still say something (IPv6 DAD on tgt0 is
        # moot, but addrconf on eth0.66 is not), so compare until both agree.
        end = time.monotonic() + SLOW
        while True:
            truth = host_view((await asyncio.to_thread(fresh)).links)
            if host_view(app.topology.inventory.links) == truth or time.monotonic() > end:
                break
            await pilot.pause(0.5)
        return dict(full_reads=app.live.full_reads - reads, patches=app.patches_applied - patches,
                    fallbacks=list(app.fallbacks), shown=host_view(app.topology.inventory.links),
                    truth=truth)


def test_link_events_are_targeted_updates_on_a_real_kernel(host, tmp_path):
    from ipvlan_tui.controller import Controller
    from ipvlan_tui.engines.kernel import KernelEngine
    from ipvlan_tui.store import Store

    kernel = KernelEngine()
    ctl = Controller(kernel, Store(host.state_dir), hosts_root=tmp_path / "netns-etc", root=True)
    try:
        seen = asyncio.run(_drive(ctl, lambda: KernelEngine().inventory()))
    finally:
        kernel.close()
    print(f"\ntargeted updates {seen['patches']}, full reads {seen['full_reads']} {seen['fallbacks']}")
    assert seen["shown"] == seen["truth"]
    assert seen["patches"] >= 5  # one (or more) per change, not full reads
    assert seen["full_reads"] == 0, seen["fallbacks"]
