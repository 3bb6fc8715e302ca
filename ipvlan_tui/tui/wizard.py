"""The network creation wizard: Basics -> Parent -> Addressing -> Review & create.

Validation is live and per field, from the same validator as the CLI: the
form becomes a NetworkRequest, controller.plan_network_create() runs in a
thread worker (debounced), and each ValidationError lands under the widget
its `field` names (`name`, `-o parent`, `--subnet`, ...). Create stays
disabled while anything is invalid. The review shows the plan step by step
with its commands; creating shows progress per step and, on failure, what
was rolled back.
"""

from __future__ import annotations

import secrets

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import (
    Button,
    ContentSwitcher,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Select,
    Static,
    Switch,
)

from ipvlan_tui.errors import PlanFailed, ValidationError
from ipvlan_tui.model import (
    ENGINE_DOCKER,
    OWNER_OTHER,
    ENGINE_NETNS,
    FLAGS,
    MODES,
    PARENT_DUMMY,
    PARENT_VLAN,
    NetworkRequest,
    Topology,
)
from ipvlan_tui.tui.confirm import plan_text
from ipvlan_tui.tui.messages import StepProgress
from ipvlan_tui.tui.rows import is_parent_link, mode_badge

STEPS = ("Basics", "Parent", "Addressing", "Review")
DEBOUNCE_S = 0.2

MODE_HELP = {
    "l2": "L2: endpoints share the parent's LAN (ARP, broadcast); default route via the gateway.",
    "l3": "L3: the parent routes; no broadcast/multicast; the gateway is ignored; subnets on one parent reach each other.",
    "l3s": "L3S: like L3, but traffic passes the host's netfilter (iptables, conntrack).",
}
FLAG_HELP = {
    "bridge": "bridge: endpoints on one parent talk to each other directly (default).",
    "private": "private: endpoints on one parent cannot talk to each other.",
    "vepa": "vepa: endpoint-to-endpoint traffic goes out to the switch and back (hairpin).",
}
ENGINE_HELP = {
    ENGINE_NETNS: "netns: named network namespaces made by this tool; no Docker needed.",
    ENGINE_DOCKER: "docker: a Docker network, every computed value passed explicitly.",
}

# Widget slot -> the wizard step (1-based) it sits on.
SLOT_STEP = {"engine": 1, "host": 1, "name": 1, "mode": 1, "flag": 1, "parent": 2,
             "subnet4": 3, "gateway4": 3, "range4": 3, "aux4": 3,
             "subnet6": 3, "gateway6": 3, "range6": 3, "aux6": 3, "internal": 3, "general": 4}


def field_slot(err: ValidationError) -> str:
    """Which widget a validator error belongs under (its `field` plus the value's family)."""
    f, value = err.field, str(err.value if err.value is not None else "")
    six = ":" in value.split("=", 1)[-1]
    fam = "6" if six else "4"
    return {
        "name": "name", "--name": "name", "--engine": "engine", "--driver": "engine",
        "-o ipvlan_mode": "mode", "-o ipvlan_flag": "flag", "-o parent": "parent", "-o": "parent",
        "--subnet": f"subnet{fam}", "--gateway": f"gateway{fam}", "--ip-range": f"range{fam}",
        "--aux-address": f"aux{fam}", "--internal": "internal", "--host": "host",
    }.get(f, "general")


def error_text(err: ValidationError) -> Text:
    text = Text("✗ ", style="bold red")
    if err.value not in (None, ""):
        text.append(f"{err.value} ", style="bold")
    text.append(err.problem, style="red")
    if err.fix:
        text.append(f"  → {err.fix}", style="#8a9199")
    return text


class Validated(Message):
    def __init__(self, serial: int, spec=None, plan=None, errors=(), other: str = "") -> None:
        super().__init__()
        self.serial, self.spec, self.plan, self.errors, self.other = serial, spec, plan, errors, other


class CreateDone(Message):
    def __init__(self, result=None, error: BaseException | None = None) -> None:
        super().__init__()
        self.result, self.error = result, error


def _field(label: str, widget, slot: str, hint: str = "") -> Vertical:
    children = [Label(label, classes="field-label"), widget]
    if hint:
        children.append(Static(hint, id=f"hint-{slot}", classes="hint"))
    children.append(Static("", id=f"err-{slot}", classes="field-error"))
    return Vertical(*children, classes="field", id=f"field-{slot}")


class NetworkWizard(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+right,pagedown", "step(1)", "Next"),
        Binding("ctrl+left,pageup", "step(-1)", "Back"),
    ]

    def __init__(self, controller, topology: Topology | None, capabilities=None) -> None:
        super().__init__()
        self.controller = controller
        self.topology = topology
        self.step = 1
        self.touched: set[str] = set()
        self.errors: dict[str, list[ValidationError]] = {}
        self.spec = None
        self.plan = None
        self.other_error = ""
        self._serial = 0
        self._validated_serial = -1
        self._timer = None
        self._creating = False
        self._done = False
        self._statuses: dict[int, str] = {}
        self._run_steps: list = []
        # One id for the whole wizard: what Review shows (e.g. the isolated
        # network's dummy parent name) is exactly what Create makes.
        self._network_id = secrets.token_hex(32)
        # The app's last capabilities (read in a worker): no blocking call on the loop here.
        self._docker_ok = bool(capabilities is not None and capabilities.docker == "ok")

    # ------------------------------------------------------------- compose
    def _links(self) -> list[str]:
        if self.topology is None:
            return []
        return [l.name for l in self.topology.inventory.links if is_parent_link(l)] + [
            l.name for l in self.topology.inventory.host_links() if l.kind == "vlan"]

    def compose(self) -> ComposeResult:
        links = self._links()
        # A dummy made by hand can carry VLANs (labs, tests); the isolated
        # parents this tool or Docker made cannot usefully.
        bases = [l.name for l in (self.topology.inventory.links if self.topology else ())
                 if is_parent_link(l) and (l.kind != "dummy" or l.owner == OWNER_OTHER)]
        with Vertical(id="wizard", classes="dialog"):
            yield Label("New ipvlan network", classes="dialog-title")
            yield Static(id="wizard-steps")
            with ContentSwitcher(initial="step-1", id="wizard-switch"):
                with VerticalScroll(id="step-1", classes="step"):
                    with RadioSet(id="engine"):
                        yield RadioButton("netns", value=True, id="engine-netns")
                        yield RadioButton("docker" + ("" if self._docker_ok else " (unreachable)"),
                                          id="engine-docker", disabled=not self._docker_ok)
                    yield Static(ENGINE_HELP[ENGINE_NETNS], id="engine-help", classes="hint")
                    yield Static("", id="err-engine", classes="field-error")
                    yield _field("Docker host (empty: local daemon)",
                                 Input(placeholder="unix:///var/run/docker.sock or a context",
                                       id="host"), "host")
                    yield _field("Name", Input(placeholder="e.g. db_net", id="name"), "name")
                    yield Label("Mode", classes="field-label")
                    with RadioSet(id="mode", classes="inline"):
                        for m in MODES:
                            yield RadioButton(m.upper(), value=m == "l2", id=f"mode-{m}")
                    yield Static(id="mode-help", classes="hint")
                    yield Static("", id="err-mode", classes="field-error")
                    yield Label("Flag", classes="field-label")
                    with RadioSet(id="flag", classes="inline"):
                        for f in FLAGS:
                            yield RadioButton(f, value=f == "bridge", id=f"flag-{f}")
                    yield Static(id="flag-help", classes="hint")
                    yield Static("", id="err-flag", classes="field-error")
                with VerticalScroll(id="step-2", classes="step"):
                    yield _field("Parent (-o parent=): a link, or base.VLAN to create a VLAN; "
                                 "empty: isolated",
                                 Input(placeholder="eth0, eth0.10, or empty", id="parent",
                                       suggester=SuggestFromList(links, case_sensitive=True)),
                                 "parent")
                    yield Static(id="parent-says", classes="says")
                    yield Label("Pick an existing link", classes="field-label")
                    yield Select([(n, n) for n in links], prompt="(existing links)",
                                 id="parent-pick")
                    yield Label("VLAN helper: base link and VLAN id (1-4094)", classes="field-label")
                    with Horizontal(classes="row"):
                        yield Select([(n, n) for n in bases], prompt="base link", id="vlan-base")
                        yield Input(placeholder="VLAN id", id="vlan-id", restrict=r"[0-9]{0,4}")
                with VerticalScroll(id="step-3", classes="step"):
                    for fam in ("4", "6"):
                        yield Label(f"IPv{fam}", classes="section")
                        with Horizontal(classes="row"):
                            ex = {"4": ("192.168.10.0/24", "192.168.10.1", "192.168.10.128/25",
                                        "router=192.168.10.254"),
                                  "6": ("2001:db8:10::/64", "2001:db8:10::1", "2001:db8:10::/80",
                                        "r6=2001:db8:10::fe")}[fam]
                            yield _field("--subnet (several: comma-separated)",
                                         Input(placeholder=ex[0], id=f"subnet{fam}"),
                                         f"subnet{fam}")
                            yield _field("--gateway", Input(placeholder=ex[1], id=f"gateway{fam}"),
                                         f"gateway{fam}", hint=" ")
                        with Horizontal(classes="row"):
                            yield _field("--ip-range", Input(placeholder=ex[2], id=f"range{fam}"),
                                         f"range{fam}")
                            yield _field("--aux-address (NAME=IP, comma-separated)",
                                         Input(placeholder=ex[3], id=f"aux{fam}"), f"aux{fam}")
                    with Horizontal(classes="row"):
                        yield Button("Suggest a free subnet (s)", id="suggest")
                        yield Switch(id="internal")
                        yield Label("--internal: isolated (dummy parent, nothing outside)",
                                    classes="switch-label")
                    yield Static("", id="err-internal", classes="field-error")
                with VerticalScroll(id="step-4", classes="step"):
                    yield Static(id="review-summary")
                    yield Static(id="review-plan")
                    yield Static(id="review-errors")
                    yield Static(id="review-result")
            with Horizontal(classes="buttons"):
                yield Button("← Back", id="back")
                yield Button("Next →", id="next", variant="primary")
                yield Button("Create", id="create", variant="success", disabled=True)
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#field-host").display = False
        self._show_step()
        self._update_help()
        self.query_one("#name", Input).focus()
        self._validate_soon()

    # --------------------------------------------------------------- form
    def _value(self, id_: str) -> str:
        return self.query_one(f"#{id_}", Input).value.strip()

    def _radio(self, id_: str, choices) -> str:
        rs = self.query_one(f"#{id_}", RadioSet)
        idx = rs.pressed_index
        return choices[idx] if 0 <= idx < len(choices) else choices[0]

    def request(self) -> NetworkRequest:
        engine = self._radio("engine", (ENGINE_NETNS, ENGINE_DOCKER))
        mode = self._radio("mode", MODES)
        flag = self._radio("flag", FLAGS)
        subnets, gateways, ranges, aux = [], [], [], []
        def split(text: str) -> list[str]:  # several values: comma- or space-separated
            return [v.strip() for v in text.replace(" ", ",").split(",") if v.strip()]

        for fam in ("4", "6"):
            for lst, id_ in ((subnets, "subnet"), (gateways, "gateway"), (ranges, "range"),
                             (aux, "aux")):
                lst += split(self._value(f"{id_}{fam}"))
        options = [f"ipvlan_mode={mode}", f"ipvlan_flag={flag}"]
        if self._value("parent"):
            options.insert(0, f"parent={self._value('parent')}")
        return NetworkRequest(
            name=self._value("name"), subnets=tuple(subnets), gateways=tuple(gateways),
            ip_ranges=tuple(ranges), aux_addresses=tuple(aux), options=tuple(options),
            internal=self.query_one("#internal", Switch).value,
            ipv6=bool(self._value("subnet6")), engine=engine,
            host=self._value("host") if engine == ENGINE_DOCKER else "")

    # ------------------------------------------------------------ changes
    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "vlan-id":
            self._vlan_helper()
            return
        if event.input.id:
            self.touched.add(event.input.id)
        self._validate_soon()

    @on(RadioSet.Changed)
    def _radio_changed(self, event: RadioSet.Changed) -> None:
        self.touched.add(event.radio_set.id or "")
        self.query_one("#field-host").display = self._radio("engine", (ENGINE_NETNS, ENGINE_DOCKER)) == ENGINE_DOCKER
        self._update_help()
        self._validate_soon()

    @on(Switch.Changed)
    def _switch_changed(self, event: Switch.Changed) -> None:
        self.touched.add("internal")
        self._validate_soon()

    @on(Select.Changed, "#parent-pick")
    def _pick(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.query_one("#parent", Input).value = event.value

    @on(Select.Changed, "#vlan-base")
    def _vlan_base(self, event: Select.Changed) -> None:
        self._vlan_helper()

    def _vlan_helper(self) -> None:
        base = self.query_one("#vlan-base", Select).value
        vid = self._value("vlan-id")
        if isinstance(base, str) and vid:
            self.query_one("#parent", Input).value = f"{base}.{vid}"

    def _update_help(self) -> None:
        mode = self._radio("mode", MODES)
        flag = self._radio("flag", FLAGS)
        engine = self._radio("engine", (ENGINE_NETNS, ENGINE_DOCKER))
        self.query_one("#engine-help", Static).update(ENGINE_HELP[engine])
        t = Text()
        for m in MODES:
            t.append(("▸ " if m == mode else "  ") + MODE_HELP[m] + "\n",
                     style="" if m == mode else "dim")
        self.query_one("#mode-help", Static).update(t)
        t = Text()
        for f in FLAGS:
            t.append(("▸ " if f == flag else "  ") + FLAG_HELP[f] + "\n",
                     style="" if f == flag else "dim")
        self.query_one("#flag-help", Static).update(t)

    # --------------------------------------------------------- validation
    def _validate_soon(self) -> None:
        self._serial += 1
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE_S, self._validate_now)
        self._set_create_enabled()

    def _validate_now(self) -> None:
        self._timer = None
        self._validate(self._serial, self.request())

    @work(thread=True, group="validate", exclusive=True)
    def _validate(self, serial: int, req: NetworkRequest) -> None:
        try:
            spec, plan = self.controller.plan_network_create(req, self._network_id)
        except ValidationError as exc:
            self.post_message(Validated(serial, errors=tuple(exc.errors)))
            return
        except Exception as exc:  # noqa: BLE001 - Docker unreachable and the like
            self.post_message(Validated(serial, other=f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(Validated(serial, spec=spec, plan=plan))

    def on_validated(self, msg: Validated) -> None:
        if msg.serial != self._serial or self._creating or self._done:
            return  # a newer edit is on its way
        self._validated_serial = msg.serial
        self.spec, self.plan, self.other_error = msg.spec, msg.plan, msg.other
        self.errors = {}
        for err in msg.errors:
            self.errors.setdefault(field_slot(err), []).append(err)
        self._show_errors()
        self._show_parent_says()
        self._show_gateway_hints()
        self._show_review()
        self._show_step()

    def _visible_slot(self, slot: str) -> bool:
        if self.step == 4:
            return True
        ids = {"subnet4", "gateway4", "range4", "aux4", "subnet6", "gateway6", "range6", "aux6",
               "name", "parent", "host", "internal"}
        if slot in ids:
            return slot in self.touched or SLOT_STEP[slot] < self.step
        return slot in self.touched or SLOT_STEP.get(slot, 4) < self.step or slot in (
            "mode", "flag", "engine")

    def _show_errors(self) -> None:
        for slot in SLOT_STEP:
            if slot == "general":
                continue
            box = self.query(f"#err-{slot}")
            if not box:
                continue
            errs = self.errors.get(slot, []) if self._visible_slot(slot) else []
            widget = box.first(Static)
            if errs:
                widget.update(Text("\n").join(error_text(e) for e in errs))
            else:
                widget.update("")
            widget.display = bool(errs)
            field = self.query(f"#{slot}")
            if field:
                field.first().set_class(bool(errs), "-invalid-field")

    def _show_parent_says(self) -> None:
        says = self.query_one("#parent-says", Static)
        text = self._value("parent")
        internal = self.query_one("#internal", Switch).value
        p = self.spec.parent if self.spec is not None else None
        msg = Text()
        if p is not None:
            if p.kind == PARENT_DUMMY:
                msg.append("◆ isolated: ", style="bold yellow")
                msg.append(f"a dummy parent {p.name} is created and removed with the network; "
                           "endpoints reach nothing outside it.")
                if internal and text:
                    msg.append(f" (--internal: parent {text} is ignored)", style="dim")
            elif p.kind == PARENT_VLAN and p.create:
                msg.append("◆ will be created: ", style="bold green")
                msg.append(f"{p.name} = VLAN {p.vlan_id} on {p.base}; deleted again with the "
                           "network (this tool made it).")
            else:
                link = self.topology.inventory.by_name(p.name) if self.topology else None
                kind = f" ({link.kind})" if link else ""
                msg.append("◆ used as it is: ", style="bold cyan")
                msg.append(f"{p.name}{kind} exists; never deleted by this tool.")
        elif "parent" in self.errors:
            msg.append("the parent is not valid yet (see above)", style="dim")
        elif not text:
            msg.append("◆ no parent: ", style="bold yellow")
            msg.append("an isolated dummy parent is created (and removed with the network).")
        else:
            msg.append("fix the other fields to see what happens to the parent", style="dim")
        says.update(msg)

    def _show_gateway_hints(self) -> None:
        mode = self._radio("mode", MODES)
        internal = self.query_one("#internal", Switch).value
        for fam in ("4", "6"):
            hint = self.query_one(f"#hint-gateway{fam}", Static)
            given = self._value(f"gateway{fam}")
            if mode != "l2":
                words = Text("ignored in L3 mode: endpoints get `default dev eth0`", style="yellow")
            elif internal or (self.spec is not None and self.spec.isolated):
                words = Text("isolated L2: no gateway reserved, no default route", style="dim")
            elif given:
                words = Text("endpoints route `default via` this address", style="dim")
            else:
                gw = None
                if self.spec is not None:
                    subs = self.spec.subnets_v(int(fam))
                    gw = subs[0].gateway if subs else None
                words = Text(f"defaulted to the first usable address: {gw}" if gw else
                             "empty: defaults to the first usable address", style="dim")
            hint.update(words)

    def _all_errors(self) -> list[ValidationError]:
        return [e for errs in self.errors.values() for e in errs]

    def _show_review(self) -> None:
        summary = self.query_one("#review-summary", Static)
        plan_box = self.query_one("#review-plan", Static)
        errors_box = self.query_one("#review-errors", Static)
        req = self.request()
        if self.spec is not None:
            s = self.spec
            t = Text()
            t.append(f"{s.name}  ", style="bold")
            t.append_text(mode_badge(s.mode, s.flag))
            t.append(f"  engine {s.engine}\n", style="#8a9199")
            t.append(f"parent {s.parent.name} ({s.parent.kind}"
                     f"{', created' if s.parent.create else ', existing'})\n", style="#8a9199")
            for sub in s.subnets:
                gw = sub.gateway if s.mode == "l2" else "ignored (L3)"
                t.append(f"subnet {sub.cidr}  gateway {gw or 'none'}"
                         + (f"  range {sub.ip_range}" if sub.ip_range else "") + "\n")
            for w in s.warnings:
                t.append(f"⚠ {w}\n", style="yellow")
            summary.update(t)
        else:
            summary.update(Text(f"network {req.name or '(no name yet)'}", style="bold"))
        if self.plan is not None and not self._creating and not self._done:
            plan_box.update(Text.assemble(Text("\nThe plan:\n", style="bold"),
                                          plan_text(self.plan.steps)))
        elif self.plan is None and not self._creating and not self._done:
            plan_box.update("")
        errs = self._all_errors()
        if errs or self.other_error:
            t = Text("\nFix these before creating:\n", style="bold red")
            for e in errs:
                t.append_text(error_text(e))
                t.append(f"   ({e.field}, step {SLOT_STEP[field_slot(e)]})\n", style="dim")
            if self.other_error:
                t.append(f"✗ {self.other_error}\n", style="red")
            errors_box.update(t)
        else:
            errors_box.update("")
        self._set_create_enabled()

    def _valid(self) -> bool:
        return (self._validated_serial == self._serial and self.spec is not None
                and not self.errors and not self.other_error)

    def _set_create_enabled(self) -> None:
        btn = self.query_one("#create", Button)
        btn.disabled = not (self.step == 4 and self._valid() and not self._creating
                            and not self._done)

    # -------------------------------------------------------------- steps
    def _show_step(self) -> None:
        self.query_one("#wizard-switch", ContentSwitcher).current = f"step-{self.step}"
        t = Text()
        for i, name in enumerate(STEPS, 1):
            bad = any(SLOT_STEP.get(slot) == i and self._visible_slot(slot)
                      for slot in self.errors) if i < 4 else False
            if i == self.step:
                t.append(f" {i} {name} ", style="bold #0b0e14 on #ffb454")
            else:
                t.append(f" {i} {name} ", style="bold red" if bad else "#8a9199")
            if bad and i != self.step:
                t.append("✗", style="bold red")
            if i < len(STEPS):
                t.append(" ── ", style="dim")
        self.query_one("#wizard-steps", Static).update(t)
        self.query_one("#back", Button).disabled = self.step == 1 or self._creating
        self.query_one("#next", Button).display = self.step < 4
        self.query_one("#create", Button).display = self.step == 4 and not self._done
        self._set_create_enabled()

    def action_step(self, delta: int) -> None:
        if self._creating:
            return
        if self._done:
            return
        new = max(1, min(4, self.step + delta))
        if delta > 0:  # leaving a step: show its errors
            self.touched |= {slot for slot, st in SLOT_STEP.items() if st <= self.step}
        self.step = new
        self._show_errors()
        self._show_review()
        self._show_step()
        first = {1: "#name", 2: "#parent", 3: "#subnet4", 4: "#create"}[new]
        widget = self.query_one(first)
        if widget.focusable:
            widget.focus()
        else:
            self.query_one("#back", Button).focus()

    def action_cancel(self) -> None:
        if not self._creating:
            self.dismiss(f"network {self.spec.name} created" if self._done and self.spec else None)

    def key_s(self) -> None:
        if self.step == 3 and not isinstance(self.focused, Input):
            self._suggest()

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        bid = event.button.id
        if bid == "next":
            self.action_step(1)
        elif bid == "back":
            self.action_step(-1)
        elif bid == "cancel":
            self.action_cancel()
        elif bid == "suggest":
            self._suggest()
        elif bid == "create":
            self._start_create()
        elif bid == "close":
            self.action_cancel()

    # ------------------------------------------------------------ suggest
    @work(thread=True, group="suggest", exclusive=True)
    def _suggest(self) -> None:
        try:
            cidr = self.controller.suggest_subnet()
        except Exception as exc:  # noqa: BLE001
            self.app.call_from_thread(self.notify, f"no free subnet: {exc}", severity="error")
            return
        self.app.call_from_thread(self._set_subnet, cidr)

    def _set_subnet(self, cidr: str) -> None:
        self.query_one("#subnet4", Input).value = cidr
        self.notify(f"suggested {cidr}: free on this host and every known network", timeout=3)

    # ------------------------------------------------------------- create
    def _start_create(self) -> None:
        if not self._valid():
            return
        self._creating = True
        self._statuses = {}
        self._run_steps = list(self.plan.steps) if self.plan else []
        self.query_one("#review-result", Static).update(Text("\ncreating…", style="yellow"))
        self._show_step()
        self._create(self.request())

    @work(thread=True, group="create", exclusive=True)
    def _create(self, req: NetworkRequest) -> None:
        def progress(i, step, event):
            self.post_message(StepProgress(i, step.description, step.command, event))
        try:
            result = self.controller.create_network(req, on_progress=progress,
                                                       network_id=self._network_id)
        except Exception as exc:  # noqa: BLE001 - shown in the review, with the rollback
            self.post_message(CreateDone(error=exc))
            return
        self.post_message(CreateDone(result=result))

    def on_step_progress(self, msg: StepProgress) -> None:
        from types import SimpleNamespace
        while len(self._run_steps) <= msg.index:
            self._run_steps.append(SimpleNamespace(description="", command=""))
        self._run_steps[msg.index] = SimpleNamespace(description=msg.description,
                                                     command=msg.command)
        self._statuses[msg.index] = msg.event
        self.query_one("#review-plan", Static).update(
            Text.assemble(Text("\nCreating:\n", style="bold"),
                          plan_text(self._run_steps, self._statuses)))

    def on_create_done(self, msg: CreateDone) -> None:
        self._creating = False
        box = self.query_one("#review-result", Static)
        if msg.error is None:
            self._done = True
            t = Text(f"\n✓ network {msg.result.network.name} created", style="bold green")
            for w in msg.result.warnings:
                t.append(f"\n⚠ {w}", style="yellow")
            t.append("\nPress Esc or Close.", style="dim")
            box.update(t)
            self.query_one("#cancel", Button).label = "Close"
        else:
            err = msg.error
            t = Text("\n✗ creation failed: ", style="bold red")
            if isinstance(err, PlanFailed):
                t.append(f"step {err.step_index + 1} ({err.step_description}): {err.cause}\n")
                if err.rolled_back:
                    t.append("rolled back, in reverse order:\n", style="bold")
                    for d in err.rolled_back:
                        t.append(f"  ↺ {d}\n", style="magenta")
                else:
                    t.append("nothing needed rolling back\n", style="dim")
                for d in err.undo_failures:
                    t.append(f"  ! could NOT undo: {d}\n", style="bold red")
            else:
                t.append(str(err))
            box.update(t)
            self._validate_soon()
        self._show_step()
