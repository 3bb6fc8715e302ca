"""The driver docs' NetOps VLAN table as a map file, shared by the map tests and
the screenshot script.

As NetOps sent it, two rows have host bits set (172.16.50.0/22 and
10.1.100.0/16); `corrected=True` gives what was meant (172.16.48.0/22 and
10.1.0.0/16, the gateways unchanged).
"""

from __future__ import annotations

ROWS = (("172.16.80.0/24", "172.16.48.0/22", "10.1.0.0/16"),  # corrected
        ("172.16.80.0/24", "172.16.50.0/22", "10.1.100.0/16"))  # as sent
GATEWAYS = ("172.16.80.1", "172.16.50.1", "10.1.100.1")


def netops_map(vlans: tuple[int, int, int] = (10, 20, 30), *, corrected: bool = False,
               endpoints: dict[int, list[tuple[str, str]]] | None = None,
               trunk: str = "eth0") -> str:
    """The map text: networks `vlanN` on trunk.N; endpoints maps a VLAN to (name, ip) pairs."""
    subnets = ROWS[0] if corrected else ROWS[1]
    out = ["version = 1", "[defaults]", f'trunk = "{trunk}"']
    for vid, subnet, gw in zip(vlans, subnets, GATEWAYS):
        out += ["", "[[networks]]", f'name = "vlan{vid}"', f"vlan = {vid}",
                f'subnets = [{{ subnet = "{subnet}", gateway = "{gw}" }}]']
        eps = (endpoints or {}).get(vid)
        if eps:
            out.append("endpoints = [" + ", ".join(f'{{ name = "{n}", ip = "{ip}" }}'
                                                   for n, ip in eps) + "]")
    return "\n".join(out) + "\n"
