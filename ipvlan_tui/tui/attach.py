"""Attach an endpoint: name, network, optional static IPv4/IPv6, image for Docker.

Validated live through controller.plan_endpoint_create (same rules as
`ipvlan-tui run`); the plan preview shows the addresses that will be given.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ipvlan_tui.errors import ValidationError
from ipvlan_tui.model import ENGINE_DOCKER, EndpointRequest, Topology
from ipvlan_tui.tui.confirm import plan_text
from ipvlan_tui.tui.messages import StepProgress
from ipvlan_tui.tui.wizard import error_text

SLOTS = {"--name": "ep-name", "name": "ep-name", "endpoint": "ep-name", "--net": "ep-network",
         "network": "ep-network", "--ip": "ep-ipv4", "--ip6": "ep-ipv6", "--image": "ep-image",
         "image": "ep-image"}


class AttachChecked(Message):
    def __init__(self, serial: int, endpoint=None, plan=None, errors=(), other: str = "") -> None:
        super().__init__()
        self.serial, self.endpoint, self.plan, self.errors, self.other = (
            serial, endpoint, plan, errors, other)


class AttachDone(Message):
    def __init__(self, result=None, error: BaseException | None = None) -> None:
        super().__init__()
        self.result, self.error = result, error


class AttachScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, controller, topology: Topology | None, network: str | None = None) -> None:
        super().__init__()
        self.controller = controller
        self.topology = topology
        self.network = network
        self._serial = 0
        self._ok_serial = -1
        self._timer = None
        self._busy = False
        self._statuses: dict[int, str] = {}
        self._steps: list = []
        self.touched: set[str] = set()
        self.errors: dict[str, list[ValidationError]] = {}

    def _engine_of(self, name: str | None) -> str:
        for net in self.topology.networks if self.topology else ():
            if net.spec.name == name:
                return net.spec.engine
        return "netns"

    def compose(self) -> ComposeResult:
        nets = [(f"{n.spec.name}  ({n.spec.mode} {n.spec.flag}, "
                 f"{', '.join(s.cidr for s in n.spec.subnets) or 'no subnet'})", n.spec.name)
                for n in (self.topology.networks if self.topology else ())]
        with Vertical(id="attach", classes="dialog"):
            yield Label("Attach an endpoint", classes="dialog-title")
            with VerticalScroll():
                for label, widget, slot in (
                    ("Name (--name)", Input(placeholder="e.g. web1", id="ep-name"), "ep-name"),
                    ("Network (--net)", Select(nets, prompt="pick a network", id="ep-network",
                                               value=self.network if self.network in
                                               {v for _, v in nets} else Select.BLANK),
                     "ep-network"),
                    ("Static IPv4 (--ip, empty: next free)",
                     Input(placeholder="e.g. 192.168.10.20", id="ep-ipv4"), "ep-ipv4"),
                    ("Static IPv6 (--ip6, empty: next free)",
                     Input(placeholder="e.g. 2001:db8:10::20", id="ep-ipv6"), "ep-ipv6"),
                    ("Image (Docker networks only)", Input(placeholder="alpine", id="ep-image"),
                     "ep-image"),
                ):
                    with Vertical(classes="field", id=f"field-{slot}"):
                        yield Label(label, classes="field-label")
                        yield widget
                        yield Static("", id=f"err-{slot}", classes="field-error")
                yield Static(id="attach-plan")
                yield Static(id="attach-result")
            with Horizontal(classes="buttons"):
                yield Button("Attach", id="attach-go", variant="success", disabled=True)
                yield Button("Cancel", id="attach-cancel")

    def on_mount(self) -> None:
        self._engine_changed()
        self.query_one("#ep-name", Input).focus()
        self._check_soon()

    def _engine_changed(self) -> None:
        net = self.query_one("#ep-network", Select).value
        self.query_one("#field-ep-image").display = self._engine_of(
            net if isinstance(net, str) else None) == ENGINE_DOCKER

    def request(self) -> EndpointRequest:
        net = self.query_one("#ep-network", Select).value
        val = lambda i: self.query_one(f"#{i}", Input).value.strip()  # noqa: E731
        network = net if isinstance(net, str) else ""
        engine = self._engine_of(network)
        return EndpointRequest(name=val("ep-name"), network=network, ipv4=val("ep-ipv4") or None,
                               ipv6=val("ep-ipv6") or None, engine=engine,
                               image=(val("ep-image") or "alpine") if engine == ENGINE_DOCKER else None)

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self, event) -> None:
        widget = getattr(event, "input", None) or getattr(event, "select", None)
        if widget is not None and widget.id:
            self.touched.add(widget.id)
        self._engine_changed()
        self._check_soon()

    def _check_soon(self) -> None:
        self._serial += 1
        self.query_one("#attach-go", Button).disabled = True
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(0.2, lambda: self._check(self._serial, self.request()))

    @work(thread=True, group="attach-check", exclusive=True)
    def _check(self, serial: int, req: EndpointRequest) -> None:
        try:
            ep, plan = self.controller.plan_endpoint_create(req)
        except ValidationError as exc:
            self.post_message(AttachChecked(serial, errors=tuple(exc.errors)))
            return
        except Exception as exc:  # noqa: BLE001
            self.post_message(AttachChecked(serial, other=f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(AttachChecked(serial, endpoint=ep, plan=plan))

    def on_attach_checked(self, msg: AttachChecked) -> None:
        if msg.serial != self._serial or self._busy:
            return
        self.errors = {}
        general: list[ValidationError] = []
        for err in msg.errors:
            slot = SLOTS.get(err.field)
            if slot is None:
                general.append(err)
            else:
                self.errors.setdefault(slot, []).append(err)
        for slot in ("ep-name", "ep-network", "ep-ipv4", "ep-ipv6", "ep-image"):
            errs = self.errors.get(slot, []) if slot in self.touched else []
            box = self.query_one(f"#err-{slot}", Static)
            box.update(Text("\n").join(error_text(e) for e in errs) if errs else "")
            box.display = bool(errs)
        plan_box = self.query_one("#attach-plan", Static)
        if msg.plan is not None:
            ep = msg.endpoint
            head = Text(f"\n{ep.name} gets {', '.join(a for a in (ep.ipv4, ep.ipv6) if a) or 'no address'}"
                        f" on {ep.network}. The plan:\n", style="bold")
            plan_box.update(Text.assemble(head, plan_text(msg.plan.steps)))
            self._steps = list(msg.plan.steps)
        else:
            t = Text()
            for err in general:
                t.append_text(error_text(err))
                t.append("\n")
            if msg.other:
                t.append(f"✗ {msg.other}", style="red")
            plan_box.update(t)
        self._ok_serial = msg.serial if msg.plan is not None else -1
        self.query_one("#attach-go", Button).disabled = msg.plan is None

    @on(Button.Pressed, "#attach-go")
    def _go(self) -> None:
        if self._ok_serial != self._serial or self._busy:
            return
        self._busy = True
        self.query_one("#attach-go", Button).disabled = True
        self._run(self.request())

    @work(thread=True, group="attach-run", exclusive=True)
    def _run(self, req: EndpointRequest) -> None:
        def progress(i, step, event):
            self.post_message(StepProgress(i, step.description, step.command, event))
        try:
            result = self.controller.run_endpoint(req, on_progress=progress)
        except Exception as exc:  # noqa: BLE001
            self.post_message(AttachDone(error=exc))
            return
        self.post_message(AttachDone(result=result))

    def on_step_progress(self, msg: StepProgress) -> None:
        self._statuses[msg.index] = msg.event
        self.query_one("#attach-plan", Static).update(
            Text.assemble(Text("\nAttaching:\n", style="bold"), plan_text(self._steps, self._statuses)))

    def on_attach_done(self, msg: AttachDone) -> None:
        self._busy = False
        if msg.error is None:
            ep = msg.result.endpoint
            self.dismiss(f"endpoint {ep.name} attached to {ep.network} "
                         f"({', '.join(a for a in (ep.ipv4, ep.ipv6) if a)})")
            return
        self.query_one("#attach-result", Static).update(
            Text(f"\n✗ {msg.error}", style="bold red"))
        self._check_soon()

    @on(Button.Pressed, "#attach-cancel")
    def action_cancel(self) -> None:
        if not self._busy:
            self.dismiss(None)
