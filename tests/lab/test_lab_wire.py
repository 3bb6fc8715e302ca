"""Two lab VMs on one wire (qemu `stream` netdev over a unix socket, nothing else):
each puts an L2 ipvlan slave on eth0.20 in a namespace and pings the other VM's slave."""

from __future__ import annotations

import io
import threading
import time

import pytest

from ipvlan_tui.lab import vm

pytestmark = pytest.mark.skipif(vm.in_lab(), reason="the lab VM cannot start itself (no nested lab)")


def _script(me: int, other: int) -> list[str]:
    return ["sh", "-c", f"""
set -e
ip link set eth0 up
ip link add link eth0 name eth0.20 type vlan id 20
ip link set eth0.20 up
ip netns add c
ip link add link eth0.20 name iv0 type ipvlan mode l2
ip link set iv0 netns c
ip -n c addr add 10.20.0.{me}/24 dev iv0
ip -n c link set iv0 up
set +e
for i in $(seq 1 90); do
    if ip netns exec c busybox ping -c 1 -W 1 10.20.0.{other} >/dev/null 2>&1; then
        echo "vm{me} reached 10.20.0.{other}"; sleep 10; exit 0
    fi
    sleep 1
done
echo "vm{me}: no reply from 10.20.0.{other}"; exit 1
"""]


def test_two_vms_on_one_wire(lab_ready, tmp_path):
    sock = str(tmp_path / "wire.sock")
    results: dict[int, object] = {}
    outputs: dict[int, io.BytesIO] = {1: io.BytesIO(), 2: io.BytesIO()}

    def run(me: int, other: int, server: bool) -> None:
        try:
            results[me] = vm.run_in_lab(_script(me, other), timeout=600, stdout=outputs[me], stderr=outputs[me],
                                        wire=vm.Wire(sock, server=server, mac=f"52:54:00:00:20:0{me}"))
        except Exception as exc:  # noqa: BLE001 - reported below
            results[me] = exc

    server = threading.Thread(target=run, args=(1, 2, True))
    server.start()
    time.sleep(2)  # the server side listens first
    client = threading.Thread(target=run, args=(2, 1, False))
    client.start()
    server.join(700)
    client.join(700)
    text = {k: v.getvalue().decode(errors="replace") for k, v in outputs.items()}
    assert results == {1: 0, 2: 0}, (results, text)
    assert "vm1 reached 10.20.0.2" in text[1] and "vm2 reached 10.20.0.1" in text[2]
