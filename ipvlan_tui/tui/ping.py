"""The ping pane: one probe with live RTTs and a sparkline, or a matrix.

Every result is set beside expect.predict()'s prediction and gets
expect.verdict()'s "expected"/"surprising" with the reason, so "cannot reach
the parent" reads as ipvlan's design. Probes run in thread workers
(actions.probe_many: real ICMP from the namespace, or the demo simulation).
"""

from __future__ import annotations

import threading
import time

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, ContentSwitcher, DataTable, Input, Label, Select, Sparkline, Static

from ipvlan_tui import expect
from ipvlan_tui.errors import ValidationError
from ipvlan_tui.model import Endpoint, Topology
from ipvlan_tui.probe import PingResult, ProbeJob, matrix_jobs
from ipvlan_tui.tui import actions

ALL = "__all__"


class PingReply(Message):
    def __init__(self, run: int, seq: int, result: PingResult) -> None:
        super().__init__()
        self.run, self.seq, self.result = run, seq, result


class PingFinished(Message):
    def __init__(self, run: int) -> None:
        super().__init__()
        self.run = run


class MatrixCell(Message):
    def __init__(self, run: int, result: PingResult) -> None:
        super().__init__()
        self.run, self.result = run, result


def verdict_text(kind: str, text: str) -> Text:
    if kind == "expected":
        return Text(f"✓ {text}", style="green")
    return Text(f"! {text}", style="bold #ffb454")


def aggregate(results: list[PingResult], src: str, target: str, address: str) -> PingResult:
    """One PingResult over the single-echo probes of a live run."""
    sent = sum(r.sent for r in results)
    received = sum(r.received for r in results)
    rtts = tuple(x for r in results for x in r.rtts)
    errors = [r.error for r in results if r.error]
    avg = sum(rtts) / len(rtts) if rtts else None
    mdev = (sum((x - avg) ** 2 for x in rtts) / len(rtts)) ** 0.5 if rtts else None
    return PingResult(src, target, address, 6 if ":" in address else 4, sent=sent,
                      received=received, loss=(1 - received / sent) if sent else 1.0,
                      rtt_min=min(rtts) if rtts else None, rtt_avg=avg,
                      rtt_max=max(rtts) if rtts else None, rtt_mdev=mdev,
                      error=errors[-1] if errors and received < sent else None,
                      rtts=rtts, socket_kind=results[-1].socket_kind if results else "")


class PingPane(Vertical):
    BINDINGS = [Binding("m", "matrix", "Matrix")]
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.topology: Topology | None = None
        self._run = 0
        self._cancel = threading.Event()
        self._results: list[PingResult] = []
        self._expectation: expect.Expectation | None = None
        self._single: tuple[str, str, str] | None = None  # src, target label, address
        self._matrix_pred: dict[tuple[str, str], expect.Expectation] = {}
        self._matrix_rows: list[tuple[str, str]] = []
        self._predicted = Text()

    def compose(self) -> ComposeResult:
        with Horizontal(classes="ping-form"):
            yield Select([], prompt="source endpoint", id="ping-source", allow_blank=True)
            yield Input(placeholder="target: endpoint, address or parent", id="ping-target")
        with Horizontal(classes="ping-form"):
            yield Label("count", classes="form-label")
            yield Input("3", placeholder="count", id="ping-count", restrict=r"[0-9]*",
                        tooltip="how many echo requests")
            yield Label("interval s", classes="form-label")
            yield Input("0.2", placeholder="interval s", id="ping-interval",
                        restrict=r"[0-9.]*", tooltip="seconds between requests")
            yield Button("Ping", id="ping-go", variant="primary")
            yield Button("Stop", id="ping-stop", disabled=True)
        with Horizontal(classes="ping-form"):
            yield Label("matrix of", classes="form-label")
            yield Select([("all networks", ALL)], value=ALL, allow_blank=False, id="ping-network")
            yield Button("Matrix (m)", id="ping-matrix-go")
        yield Static(Text("Pick a source endpoint and a target, or run a matrix. Every result "
                          "is compared with the prediction.", style="dim italic"),
                     id="ping-expect")
        with ContentSwitcher(initial="ping-single", id="ping-switch"):
            with Vertical(id="ping-single"):
                yield Sparkline([], id="ping-spark")
                yield Static(id="ping-summary")
                yield DataTable(id="ping-replies", cursor_type="row", zebra_stripes=True)
            with Vertical(id="ping-matrix"):
                yield DataTable(id="matrix-grid", cursor_type="cell")
                yield DataTable(id="matrix-verdicts", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#ping-replies", DataTable).add_columns("seq", "address", "rtt ms", "result")
        self.query_one("#matrix-verdicts", DataTable).add_columns(
            "from", "to", "result", "verdict", "why", "address")

    def focus_first(self) -> None:
        self.query_one("#ping-source", Select).focus()

    # ----------------------------------------------------------- topology
    def set_topology(self, topo: Topology) -> None:
        self.topology = topo
        eps = [ep for net in topo.networks for ep in net.endpoints]
        source = self.query_one("#ping-source", Select)
        options = [(f"{ep.name}  ({ep.network})", ep.name) for ep in eps]
        if options != getattr(self, "_src_options", None):
            self._src_options = options
            keep = source.value
            source.set_options(options)
            if keep in {v for _, v in options}:
                source.value = keep
        nets = [("all networks", ALL)] + [(n.spec.name, n.spec.name) for n in topo.networks]
        if nets != getattr(self, "_net_options", None):
            self._net_options = nets
            sel = self.query_one("#ping-network", Select)
            keep = sel.value
            sel.set_options(nets)
            sel.value = keep if keep in {v for _, v in nets} else ALL

    def set_source(self, name: str) -> None:
        sel = self.query_one("#ping-source", Select)
        if name in {v for _, v in getattr(self, "_src_options", [])}:
            sel.value = name

    def set_matrix_network(self, name: str) -> None:
        sel = self.query_one("#ping-network", Select)
        if name in {v for _, v in getattr(self, "_net_options", [])}:
            sel.value = name

    def _endpoint(self, name: str) -> Endpoint | None:
        for net in self.topology.networks if self.topology else ():
            for ep in net.endpoints:
                if ep.name == name:
                    return ep
        return None

    def _say(self, text: Text | str) -> None:
        self.query_one("#ping-expect", Static).update(text)

    # ------------------------------------------------------------- single
    @on(Button.Pressed, "#ping-go")
    @on(Input.Submitted, "#ping-target")
    def start_ping(self) -> None:
        if self.topology is None:
            return
        src_name = self.query_one("#ping-source", Select).value
        src = self._endpoint(src_name) if isinstance(src_name, str) else None
        if src is None:
            self._say(Text("✗ source: pick the endpoint to ping from", style="red"))
            return
        try:
            target = actions.resolve_ping_target(self.topology,
                                                 self.query_one("#ping-target", Input).value)
            count = int(self.query_one("#ping-count", Input).value or "0")
            interval = float(self.query_one("#ping-interval", Input).value or "0")
            if not 1 <= count <= 1000:
                raise ValidationError("count", count, "must be 1 to 1000")
            if not 0.01 <= interval <= 60:
                raise ValidationError("interval", interval, "must be 0.01 to 60 seconds")
            exp = expect.predict(self.topology, src, target.target)
        except (ValidationError, ValueError) as exc:
            self._say(Text(f"✗ {exc}", style="red"))
            return
        self._expectation = exp
        self._results = []
        self._cancel.set()
        self._cancel = threading.Event()
        self._run += 1
        self.query_one("#ping-switch", ContentSwitcher).current = "ping-single"
        self.query_one("#ping-replies", DataTable).clear()
        self.query_one("#ping-spark", Sparkline).data = []
        predicted = Text()
        predicted.append(f"{src.name} → {target.label}", style="bold")
        predicted.append(f" ({exp.address or 'no address'})  predicted: ", style="dim")
        predicted.append("reachable" if exp.reachable else "not reachable",
                         style="green" if exp.reachable else "yellow")
        predicted.append(f"  [{exp.rule}] {exp.reason}", style="#8a9199")
        self._predicted = predicted
        self._say(predicted)
        self._single = (src.name, target.label, exp.address or "")
        self.query_one("#ping-summary", Static).update(Text("pinging…", style="dim"))
        if exp.address is None:
            res = PingResult(src.name, target.label, "", 0, error=exp.reason)
            self._results = [res]
            self._finish_single()
            return
        self.query_one("#ping-stop", Button).disabled = False
        self._ping_worker(self._run, src, exp.address, target.label, count, interval, self._cancel)

    @work(thread=True, group="ping", exclusive=True)
    def _ping_worker(self, run: int, src: Endpoint, address: str, label: str, count: int,
                     interval: float, cancel: threading.Event) -> None:
        ctl = self.app.controller
        topo = self.topology
        for seq in range(1, count + 1):
            if cancel.is_set():
                break
            t0 = time.monotonic()
            job = ProbeJob(src.netns or src.name, address, src.name, label, count=1,
                           interval=interval, timeout=1.0)
            try:
                res = actions.probe_many(ctl, topo, [job])[0]
            except Exception as exc:  # noqa: BLE001 - shown as this echo's error
                res = PingResult(src.name, label, address, 0, error=str(exc))
            self.post_message(PingReply(run, seq, res))
            wait = interval - (time.monotonic() - t0)
            if seq < count and wait > 0:
                cancel.wait(wait)
        self.post_message(PingFinished(run))

    def on_ping_reply(self, msg: PingReply) -> None:
        if msg.run != self._run:
            return
        res = msg.result
        self._results.append(res)
        rtt = res.rtts[0] if res.rtts else None
        table = self.query_one("#ping-replies", DataTable)
        table.add_row(str(msg.seq), res.address, f"{rtt:.3f}" if rtt is not None else "-",
                      Text("reply", style="green") if res.received else
                      Text(res.error or "no reply", style="red"))
        table.move_cursor(row=table.row_count - 1, animate=False)
        spark = self.query_one("#ping-spark", Sparkline)
        spark.data = [r.rtts[0] if r.rtts else 0.0 for r in self._results]
        self._summary(final=False)

    def on_ping_finished(self, msg: PingFinished) -> None:
        if msg.run != self._run:
            return
        if self.query_one("#ping-switch", ContentSwitcher).current == "ping-matrix":
            self.query_one("#ping-stop", Button).disabled = True
            return
        self._finish_single()

    def _summary(self, final: bool) -> PingResult | None:
        if self._single is None:
            return None
        src, label, address = self._single
        agg = aggregate(self._results, src, label, address)
        text = Text()
        text.append(f"{agg.sent} sent, {agg.received} received, ", style="bold")
        text.append(f"{agg.loss * 100:.0f}% loss", style="green" if agg.loss == 0 else "red")
        if agg.received:
            text.append(f"   rtt min/avg/max {agg.rtt_min:.3f}/{agg.rtt_avg:.3f}/"
                        f"{agg.rtt_max:.3f} ms", style="#8a9199")
        if agg.socket_kind == "simulated":
            text.append("   (simulated: demo kernel)", style="dim italic")
        self.query_one("#ping-summary", Static).update(text)
        return agg

    def _finish_single(self) -> None:
        self.query_one("#ping-stop", Button).disabled = True
        agg = self._summary(final=True) if self._results and self._results[0].sent else (
            self._results[0] if self._results else None)
        if agg is None or self._expectation is None:
            return
        kind, words = expect.verdict(self._expectation, agg)
        self._say(Text.assemble(self._predicted, "\n", verdict_text(kind, words)))

    # ------------------------------------------------------------- matrix
    def action_matrix(self) -> None:
        self.start_matrix()

    @on(Button.Pressed, "#ping-matrix-go")
    def start_matrix(self) -> None:
        if self.topology is None:
            return
        net = self.query_one("#ping-network", Select).value
        eps = actions.endpoints_of(self.topology, None if net == ALL else net)
        self.query_one("#ping-switch", ContentSwitcher).current = "ping-matrix"
        grid = self.query_one("#matrix-grid", DataTable)
        verdicts = self.query_one("#matrix-verdicts", DataTable)
        grid.clear(columns=True)
        verdicts.clear()
        self._cancel.set()
        self._cancel = threading.Event()
        self._run += 1
        if len(eps) < 2:
            self._say(Text("A matrix needs at least two endpoints"
                           + ("" if net == ALL else f" on {net}") + ".", style="yellow"))
            return
        grid.add_column(Text("from \\ to", style="bold"), key="src")
        for ep in eps:
            grid.add_column(Text(ep.name, style="bold"), key=ep.name,
                            width=max(7, len(ep.name)))
        self._matrix_pred = {}
        for a in eps:
            cells = [Text(a.name, style="bold")]
            for b in eps:
                if a.name == b.name:
                    cells.append(Text("·", style="dim"))
                    continue
                try:
                    exp = expect.predict(self.topology, a, b)
                except ValidationError:
                    exp = expect.Expectation(False, "no prediction", "unknown-network")
                self._matrix_pred[(a.name, b.name)] = exp
                cells.append(Text("…", style="dim"))
            grid.add_row(*cells, key=a.name)
        self._matrix_rows = []
        pairs = len(eps) * (len(eps) - 1)
        self._say(Text(f"matrix: {len(eps)} endpoints, {pairs} pairs"
                       + ("" if net == ALL else f" on {net}")
                       + "; ✓ reply, ✗ no reply; highlighted = surprising", style="#8a9199"))
        self.query_one("#ping-stop", Button).disabled = False
        self._matrix_worker(self._run, eps, self._cancel)

    @work(thread=True, group="ping", exclusive=True)
    def _matrix_worker(self, run: int, eps: list[Endpoint], cancel: threading.Event) -> None:
        ctl, topo = self.app.controller, self.topology
        planned = matrix_jobs(eps, count=1, timeout=1.0)
        jobs = []
        for a, b, item in planned:
            if isinstance(item, PingResult):
                self.post_message(MatrixCell(run, item))
            else:
                jobs.append(item)
        if jobs:
            try:
                actions.probe_many(ctl, topo, jobs,
                                   on_result=lambda r: self.post_message(MatrixCell(run, r)),
                                   cancel=cancel)
            except Exception as exc:  # noqa: BLE001 - each pair shows the error
                for job in jobs:
                    self.post_message(MatrixCell(run, PingResult(job.source, job.target,
                                                                 job.address, 0, error=str(exc))))
        self.post_message(PingFinished(run))

    def on_matrix_cell(self, msg: MatrixCell) -> None:
        if msg.run != self._run:
            return
        res = msg.result
        exp = self._matrix_pred.get((res.source, res.target))
        if exp is None:
            return
        kind, words = expect.verdict(exp, res)
        mark = (f"✓ {res.rtt_avg:.2f}"[:7] if res.received and res.rtt_avg is not None
                else ("✓" if res.received else "✗"))
        if kind == "expected":
            cell = Text(mark, style="green" if res.received else "#8a9199")
        else:
            cell = Text(f"!{mark}", style="bold #0b0e14 on #ffb454")
        grid = self.query_one("#matrix-grid", DataTable)
        try:
            grid.update_cell(res.source, res.target, cell)
        except Exception:  # noqa: BLE001 - a stale row after a refresh
            pass
        self.query_one("#matrix-verdicts", DataTable).add_row(
            res.source, res.target,
            Text("reply", style="green") if res.received else Text("none", style="#8a9199"),
            verdict_text(kind, kind), Text(exp.reason, style="#8a9199"), res.address or "-")

    @on(Button.Pressed, "#ping-stop")
    def stop(self) -> None:
        self._cancel.set()
        self.query_one("#ping-stop", Button).disabled = True
