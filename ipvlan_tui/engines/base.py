"""The interface every kernel backend offers the controller.

The real one is `engines.kernel.KernelEngine` (pyroute2 + lean netlink reads);
`engines.fake.FakeKernel` keeps the same promises in memory for UI breadth
tests and demos. Neither imports Textual.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable

from ipvlan_tui.model import Inventory, Route


@runtime_checkable
class KernelBackend(Protocol):
    # ---- reads -----------------------------------------------------------
    def inventory(self) -> Inventory: ...

    def link_exists(self, name: str, netns: str = "") -> bool: ...

    def link_index(self, name: str, netns: str = "") -> int | None: ...

    def netns_exists(self, name: str) -> bool: ...

    def probe_drivers(self) -> dict[str, bool]:
        """{'ipvlan': bool, '8021q': bool, 'dummy': bool}"""
        ...

    # ---- changes (each raises errors.EngineError with a plain sentence) ----
    def create_vlan(self, base: str, vlan_id: int, name: str) -> int: ...

    def create_dummy(self, name: str) -> int: ...

    def delete_link(self, name: str, netns: str = "") -> None: ...

    def create_netns(self, name: str) -> None: ...

    def delete_netns(self, name: str) -> None: ...

    def create_endpoint_link(
        self, netns: str, parent: str, mode: str, flag: str, ifname: str = "eth0"
    ) -> int: ...

    def configure_endpoint(
        self, netns: str, ifname: str, addresses: Sequence[str], routes: Sequence[Route]
    ) -> None: ...

    # ---- events ------------------------------------------------------------
    def watch(self, callback: Callable[[dict], None], stop: Callable[[], bool]) -> None:
        """Block in a worker thread, calling `callback(event)` per change until stop()."""
        ...
