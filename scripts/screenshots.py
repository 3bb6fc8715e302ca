"""Make screenshots/*.svg from the real app on the demo kernel.

    python scripts/screenshots.py [OUTDIR]

The demo controller is populated through the controller itself (networks
and endpoints made by actions.populate_demo), with network ids made
deterministic so the dummy parents keep their names between runs.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ipvlan_tui import controller as controller_mod  # noqa: E402
from ipvlan_tui.controller import Controller  # noqa: E402
from tests.netops import netops_map  # noqa: E402
from ipvlan_tui.engines.fake import FakeKernel  # noqa: E402
from ipvlan_tui.store import Store  # noqa: E402
from ipvlan_tui.tui import actions  # noqa: E402
from ipvlan_tui.tui.app import IpvlanApp  # noqa: E402
from textual.widgets import Footer  # noqa: E402

SIZE = (160, 48)


def demo_controller(root: bool = True) -> Controller:
    counter = itertools.count(1)
    controller_mod._new_id = lambda: f"{next(counter):064x}"
    tmp = Path(tempfile.mkdtemp(prefix="ipvlan-tui-shots-"))
    ctl = Controller(FakeKernel.demo(), Store(tmp), hosts_root=tmp / "etc", root=True)
    actions.populate_demo(ctl)
    ctl.root = root  # populated as root; shown as an ordinary user sees it
    return ctl


async def until(pilot, cond, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("the app did not get there in time")
        await pilot.pause(0.05)


async def shoot(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []

    async def save(app, name: str) -> None:
        # The footer recomposes when the bindings change; wait until it shows them.
        footer = app.screen_stack[0].query_one(Footer)
        end = time.monotonic() + 3
        while not (len(footer.children) > 3 and all(c.region.width for c in footer.children)) \
                and time.monotonic() < end:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        path = out / f"{name}.svg"
        path.write_text(app.export_screenshot(title=f"ipvlan-tui: {name.replace('-', ' ')}"))
        made.append(path)

    app = IpvlanApp(demo_controller(), demo=True, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None)
        await pilot.pause(0.5)
        await pilot.press("3")
        await pilot.pause(0.2)
        await save(app, "main")
        # An L3 network: its detail shows the routes other hosts need.
        await pilot.press("home")
        for _ in range(8):
            sel = getattr(app, "_last_selected", None)
            if getattr(getattr(sel, "spec", None), "name", "") == "web_l3":
                break
            await pilot.press("down")
            await pilot.pause(0.1)
        await pilot.pause(0.3)
        await save(app, "network-l3-routes")
        await pilot.press("t")
        await pilot.pause(0.3)
        await save(app, "topology")

        # The wizard, step by step, with a validation error on the way.
        await pilot.press("n")
        await pilot.pause(0.2)
        wiz = app.screen
        for ch in "app_net":
            await pilot.press(ch)
        await pilot.click("#mode-l3")
        await pilot.pause(0.4)
        await save(app, "wizard-1-basics")
        await pilot.press("pagedown")
        await pilot.pause(0.1)
        for ch in "eth9.30":
            await pilot.press(ch)
        await pilot.pause(0.5)
        await save(app, "wizard-2-parent-error")
        wiz.query_one("#parent").value = "eth1.30"
        await pilot.pause(0.5)
        await save(app, "wizard-2-parent")
        await pilot.press("pagedown")
        await pilot.pause(0.1)
        wiz.query_one("#subnet4").value = "10.20.0.0/24"
        wiz.query_one("#gateway4").value = "10.30.0.1"
        await pilot.pause(0.5)
        await save(app, "wizard-3-addressing-error")
        wiz.query_one("#subnet4").value = "10.30.0.0/24"
        wiz.query_one("#gateway4").value = ""
        wiz.query_one("#range4").value = "10.30.0.128/25"
        await pilot.pause(0.5)
        await save(app, "wizard-3-addressing")
        await pilot.press("pagedown")
        await pilot.pause(0.5)
        await save(app, "wizard-4-review")
        await pilot.click("#create")
        await until(pilot, lambda: wiz._done or "failed" in str(
            wiz.query_one("#review-result").render()))
        await pilot.pause(0.2)
        await save(app, "wizard-5-created")
        await pilot.press("escape")
        await pilot.pause(0.3)

        # Delete with confirmation.
        await pilot.press("3")
        await pilot.press("home")
        await pilot.press("d")
        await pilot.pause(0.4)
        await save(app, "delete-confirm")
        await pilot.press("n")
        await pilot.pause(0.2)

        # Ping: one probe, then the matrix.
        await pilot.press("4")
        await pilot.press("home")
        await pilot.press("p")
        await pilot.pause(0.2)
        pane = app.query_one("#ping")
        pane.query_one("#ping-target").value = "db2"
        pane.query_one("#ping-count").value = "8"
        pane.query_one("#ping-interval").value = "0.02"
        pane.start_ping()
        await pilot.pause(1.0)
        await save(app, "ping")
        pane.start_matrix()
        await pilot.pause(0.8)
        await save(app, "ping-matrix")
        await pilot.press("8")
        await pilot.pause(0.3)
        await save(app, "log")
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        await save(app, "help")

    await shoot_map(save)

    ro = IpvlanApp(demo_controller(root=False), demo=True, watch=False)
    async with ro.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ro.topology is not None)
        await pilot.pause(0.5)
        await save(ro, "read-only")
    return made


# The driver docs' NetOps table as a map, on VLANs 110-130 of the demo's eth0 (eth0.10 is db_net's).
NETOPS_MAP = netops_map((110, 120, 130), corrected=True,
                        endpoints={110: [("web110", "172.16.80.10")]})
AS_SENT = NETOPS_MAP.replace("172.16.48.0/22", "172.16.50.0/22").replace("10.1.0.0/16", "10.1.100.0/16")


async def shoot_map(save) -> None:
    """The apply-map screen: a bad map, the diff and plan, the result. Paths are relative
    (the files sit in a temporary working directory) so the pictures do not change."""
    import os
    tmp = Path(tempfile.mkdtemp(prefix="ipvlan-tui-map-"))
    (tmp / "netops.toml").write_text(NETOPS_MAP)
    (tmp / "netops-as-sent.toml").write_text(AS_SENT)
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        app = IpvlanApp(demo_controller(), demo=True, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.topology is not None)
            await pilot.pause(0.5)
            await pilot.press("M")
            await until(pilot, lambda: bool(app.screen.query("#map-path")))
            scr = app.screen
            scr.query_one("#map-path").value = "netops-as-sent.toml"
            await until(pilot, lambda: scr.query_one("#map-problems").display)
            await pilot.pause(0.3)
            await save(app, "map-1-errors")
            scr.query_one("#map-path").value = "netops.toml"
            await until(pilot, lambda: not scr.query_one("#map-apply").disabled)
            await pilot.pause(0.3)
            await save(app, "map-2-plan")
            await pilot.click("#map-apply")
            await until(pilot, lambda: scr._applied is not None and not scr._busy
                        and scr.why_not() == "nothing to do")
            await pilot.pause(0.3)
            await save(app, "map-3-applied")
    finally:
        os.chdir(cwd)


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "screenshots"
    for path in asyncio.run(shoot(out)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
