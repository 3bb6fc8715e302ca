"""ipvlan-tui's console: one screen of panels over the controller.

Layout: four resource panels on the left (digits 1-4), a tabbed right side
(Detail, Topology, Ping, Log: 5-8), banners on top when something limits
what can be done, the footer with the bindings in force.

Threading: every controller call runs in a thread worker and comes back as a
message (messages.py). Refreshes never overlap (re-armed after the worker
finishes, dolphie-style), and nothing refreshes under a modal.

Kernel events: the watcher thread keeps up to EVENT_BATCH_MAX of them (more:
an overflow) and posts one KernelChanged at a time (toolong-style
can_replace). The first event after a quiet spell is applied at once, later
ones are collected for COALESCE_S. A batch of link events is applied in place
(liveview.LiveView.apply re-reads those links only; the panels update those
rows); a resync, an overflow, Docker events, a changed store or anything
apply cannot place falls back to one full refresh.
"""

from __future__ import annotations

import threading
import time
from typing import Iterable

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane

from ipvlan_tui.errors import IpvlanTuiError, ValidationError
from ipvlan_tui.liveview import TARGETED_MAX, FullRead, LiveView
from ipvlan_tui.model import Endpoint, Link, Network, Topology
from ipvlan_tui.tui import actions
from ipvlan_tui.tui.confirm import ConfirmScreen
from ipvlan_tui.tui.detail import detail_for, endpoint_commands, link_commands, network_commands
from ipvlan_tui.tui.help import HelpScreen
from ipvlan_tui.tui.messages import (
    KernelChanged,
    OperationDone,
    TopologyFailed,
    TopologyLoaded,
    TopologyPatched,
    WatchStopped,
)
from ipvlan_tui.tui.panels.log import LogPane, entry_text
from ipvlan_tui.tui.panels.tables import Panel, ResourceTable
from ipvlan_tui.tui.rows import ENDPOINTS, LINKS, NETWORKS, PANELS, VLANS, Index, build_rows, index, patch_rows
from ipvlan_tui.tui.topology import TopologyTree

COALESCE_S = 0.15  # after an update, collect events this long before the next
EVENT_BATCH_MAX = TARGETED_MAX  # events kept for one targeted update; more: a full refresh
FALLBACK_REFRESH_S = 5.0  # without events
CHANGE_ACTIONS = {"new_network", "attach", "delete", "detach"}
TABS = {5: "tab-detail", 6: "tab-topology", 7: "tab-ping", 8: "tab-log"}


class IpvlanApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "ipvlan-tui"

    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("n", "new_network", "New net"),
        Binding("a", "attach", "Attach"),
        Binding("M", "apply_map", "Map"),
        Binding("d", "delete", "Delete"),
        Binding("x", "detach", "Detach", show=False),
        Binding("p", "ping", "Ping"),
        Binding("t", "topology", "Topology"),
        Binding("l", "log", "Log"),
        Binding("slash", "filter", "Filter"),
        Binding("r", "refresh", "Refresh"),
        Binding("c", "copy", "Copy", show=False),
        Binding("z", "zoom", "Zoom", show=False),
        Binding("left_square_bracket", "resize(-4)", "Narrow", show=False),
        Binding("right_square_bracket", "resize(4)", "Widen", show=False),
        Binding("escape", "escape", "Back", show=False),
        *[Binding(str(i), f"panel({i})", f"Panel {i}", show=False) for i in range(1, 9)],
    ]

    def __init__(self, controller, *, watch: bool = True, demo: bool = False) -> None:
        super().__init__()
        self.controller = controller
        self.demo = demo
        self.watch_enabled = watch
        self.topology: Topology | None = None
        self.index: Index | None = None
        self.caps = None
        self.rows: dict = {p: [] for p in PANELS}
        self.query_text = ""
        self.left_width = 62  # percent
        self._refreshing = False
        self._refresh_pending = False
        self._coalesce_timer = None
        self._events_seen = 0
        self.events_in = 0  # events handed over by the watchers (a storm: thousands)
        self.event_posts = 0  # KernelChanged messages they turned into (a handful)
        self._event_posted = threading.Event()  # one KernelChanged in flight at most
        self._ev_lock = threading.Lock()
        self._ev_batch: list[dict] = []  # what the next targeted update applies
        self._ev_overflow = False  # more than EVENT_BATCH_MAX since the last update
        self._events_waiting = False  # a flush found a refresh running: flush after it
        self._last_flush = float("-inf")
        self.live = LiveView(controller)
        self.patches_applied = 0  # targeted updates shown
        self.full_refreshes = 0  # full reads shown (or found unchanged)
        self.fallbacks: list[str] = []  # why events needed a full refresh (last few)
        self._stop_watch = threading.Event()
        self._live = "starting"
        self._fallback_timer = None
        self.first_screen_s: float | None = None  # wall clock, construction -> first topology shown
        self.first_screen_cpu_s: float | None = None  # CPU time of this process for the same span
        self._t0 = time.perf_counter()
        self._cpu0 = time.process_time()
        self.loaded = threading.Event()  # set after the first topology is on screen
        self._force_redraw = False
        self._allowed: dict[str, bool] = {a: False for a in CHANGE_ACTIONS}  # "still reading"

    @property
    def current_theme(self):
        """App.current_theme without its two copies of the theme registry per call: the
        stylesheet asks once per widget and pseudo-class check (0.1-0.3 s of a first
        screen). Same answer: a registered single name, else Textual's own lookup."""
        theme = self._registered_themes.get(self.theme) if "," not in self.theme else None
        return theme if theme is not None else super().current_theme

    # ---------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        with Vertical(id="banners"):
            yield Static(id="banner-readonly", classes="banner")
            yield Static(id="banner-drivers", classes="banner")
            yield Static(id="banner-docker", classes="banner")
            yield Static(id="banner-errors", classes="banner")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                for i, panel in enumerate(PANELS, 1):
                    yield Panel(panel, i)
            with TabbedContent(id="right", initial="tab-detail"):
                with TabPane("5 Detail", id="tab-detail"):
                    with VerticalScroll(id="detail-scroll"):
                        yield Static(detail_for(None, None), id="detail")
                with TabPane("6 Topology", id="tab-topology"):
                    yield TopologyTree(id="tree")
                with TabPane("7 Ping", id="tab-ping"):
                    from ipvlan_tui.tui.ping import PingPane
                    yield PingPane(id="ping")
                with TabPane("8 Log", id="tab-log"):
                    yield LogPane(id="log")
        yield Input(placeholder="filter every panel: words, e.g. eth0 l3   (Esc clears)",
                    id="filter")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self._pin_console_size()
        self.query_one("#filter", Input).display = False
        for b in self.query(".banner"):
            b.display = False
        self._apply_width()
        self._render_topbar()
        self.query_one("#table-links", ResourceTable).focus()
        self.request_refresh()
        self.set_interval(1.0, self._flush_pending)
        if self.watch_enabled:
            self._watch()
        else:
            self._start_fallback("events off")

    def on_resize(self, event) -> None:
        self._pin_console_size()

    def _pin_console_size(self) -> None:
        """Give the Rich console the app's size.

        Unpinned, every `console.options` (one per DataTable cell measured: 20,000
        for the first screen of a big host) asks the OS for the terminal size, on
        up to three file descriptors; headless it even falls back to 80 columns.
        """
        self.console.size = (self.size.width, self.size.height)

    # ------------------------------------------------------------ refreshing
    def _modal_open(self) -> bool:
        try:
            return isinstance(self.screen, ModalScreen)
        except ScreenStackError:  # shutting down
            return True

    def request_refresh(self) -> None:
        """Refresh soon; never two at once, never under a modal (done on its close)."""
        if self._refreshing or self._modal_open():
            self._refresh_pending = True
            return
        self._refreshing = True
        with self._ev_lock:  # the full read covers every event so far
            self._ev_batch = []
            self._ev_overflow = False
        self._load()

    @work(thread=True, group="refresh")
    def _load(self) -> None:
        t0 = time.perf_counter()
        try:
            topo = self.live.read()
            caps = self.controller.capabilities()
            log = list(self.controller.log)
        except Exception as exc:  # noqa: BLE001 - shown in a banner, the UI goes on
            self.post_message(TopologyFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(TopologyLoaded(topo, caps, log, time.perf_counter() - t0))

    def on_topology_loaded(self, msg: TopologyLoaded) -> None:
        self._refreshing = False
        self.full_refreshes += 1
        if self._modal_open() and self.topology is not None:
            self._refresh_pending = True  # a modal opened meanwhile: apply after it closes
            return
        unchanged = (msg.topology == self.topology and msg.capabilities == self.caps
                     and not self._force_redraw)
        self._force_redraw = False
        self.topology, self.caps = msg.topology, msg.capabilities
        if unchanged:  # a poll or an unrelated event: nothing to redraw
            self.query_one(LogPane).show(msg.log)
            self._after_load()
            return
        self.rows, self.index = build_rows(msg.topology)
        for panel in self.query(Panel):
            if panel.all_rows != self.rows[panel.panel] or self.query_text != panel.query_text:
                panel.show(self.rows[panel.panel], self.query_text)
        tabs = self.query_one("#right", TabbedContent)
        tree = self.query_one(TopologyTree)
        tree.set_topology(msg.topology, self.index, visible=tabs.active == "tab-topology")
        self.query_one(LogPane).show(msg.log)
        from ipvlan_tui.tui.ping import PingPane
        self.query_one(PingPane).set_topology(msg.topology)
        self._render_banners(msg.topology)
        self._render_topbar()
        self._show_detail()
        self._after_load()

    def _after_load(self) -> None:
        allowed = {a: not self.why_not(a) for a in CHANGE_ACTIONS}
        if allowed != self._allowed:  # the footer recomposes on this: only when it changes
            self._allowed = allowed
            self.refresh_bindings()
        if self.first_screen_s is None:
            self.first_screen_s = time.perf_counter() - self._t0
            self.first_screen_cpu_s = time.process_time() - self._cpu0
            self.loaded.set()
        self._render_status()
        if self._refresh_pending:
            self._refresh_pending = False
            self.request_refresh()
        elif self._events_waiting:
            self._events_waiting = False
            self._flush_events()

    # ------------------------------------------------------- targeted updates
    # description: Textual would otherwise build one from repr() of the arguments,
    # the whole topology (5,000 links: 90 ms per event).
    @work(thread=True, group="refresh", description="targeted update")
    def _patch(self, base: Topology, events: list[dict]) -> None:
        t0 = time.perf_counter()
        try:
            result = self.live.apply(base, events)
        except Exception as exc:  # noqa: BLE001 - a full refresh will say what is wrong
            result = FullRead(f"{type(exc).__name__}: {exc}")
        self.post_message(TopologyPatched(base, result, time.perf_counter() - t0))

    def on_topology_patched(self, msg: TopologyPatched) -> None:
        self._refreshing = False
        result = msg.result
        if isinstance(result, FullRead) or msg.base is not self.topology or self._modal_open():
            why = result.reason if isinstance(result, FullRead) else "the view moved on"
            self.fallbacks = (self.fallbacks + [why])[-8:]
            self.request_refresh()
            return
        self._show_patch(result)
        self._after_load()

    def _show_patch(self, patch) -> None:
        """The panels, tree and panes after a targeted update: only the rows it touched."""
        topo = patch.topology
        idx = index(topo)
        changed = patch_rows(self.rows, topo, idx, patch.links, patch.endpoints, patch.networks)
        self.topology, self.index = topo, idx
        for panel in self.query(Panel):
            if panel.query_text != self.query_text:
                panel.show(self.rows[panel.panel], self.query_text)
            else:
                panel.patch(self.rows[panel.panel], set(changed[panel.panel]))
        tabs = self.query_one("#right", TabbedContent)
        self.query_one(TopologyTree).set_topology(topo, idx, visible=tabs.active == "tab-topology")
        from ipvlan_tui.tui.ping import PingPane
        self.query_one(PingPane).set_topology(topo)
        # The detail area only when what it shows changed: a big link's detail (hundreds
        # of VLANs) costs more to render than the rest of the update.
        obj = self.selected()
        if (obj is not self._detail_obj
                or isinstance(obj, Link) and not obj.netns and obj.name in patch.links
                or isinstance(obj, Endpoint) and obj.network in patch.networks):
            self._show_detail()
        self.patches_applied += 1

    def on_topology_failed(self, msg: TopologyFailed) -> None:
        self._refreshing = False
        self._force_redraw = True  # clear this banner on the next good read
        banner = self.query_one("#banner-errors", Static)
        banner.update(Text(f"⚠ could not read the topology: {msg.error}. Press r to retry.",
                           style="bold"))
        banner.display = True
        banner.set_class(True, "error")

    def _flush_pending(self) -> None:
        """Back from a modal: run the refresh that waited."""
        if self._refreshing or self._modal_open():
            return
        if self._refresh_pending:
            self._refresh_pending = False
            self.request_refresh()
        elif self._events_waiting:
            self._events_waiting = False
            self._flush_events()

    # ---------------------------------------------------------------- events
    @work(thread=True, group="watch", exclusive=True)
    def _watch(self) -> None:
        self._live = "events"

        def changed(ev: dict) -> None:
            # A storm (thousands of links, an ENOBUFS resync) must not queue thousands of
            # messages: one is in flight until _flush_events, whose refresh reads
            # everything anyway; an event after that posts the next one.
            self.events_in += 1
            with self._ev_lock:
                if len(self._ev_batch) < EVENT_BATCH_MAX:
                    self._ev_batch.append(ev)
                else:
                    self._ev_overflow = True
            if not self._event_posted.is_set():
                self._event_posted.set()
                self.event_posts += 1
                self.post_message(KernelChanged(ev))

        try:
            actions.watch_events(self.controller, changed, self._stop_watch.is_set)
        except Exception as exc:  # noqa: BLE001 - no events: fall back to polling
            self.post_message(WatchStopped(f"{type(exc).__name__}: {exc}"))
            return
        if not self._stop_watch.is_set():
            self.post_message(WatchStopped("the event stream ended"))

    def on_kernel_changed(self, msg: KernelChanged) -> None:
        self._events_seen += 1
        if self._coalesce_timer is None:
            wait = self._last_flush + COALESCE_S - time.monotonic()
            if wait <= 0:  # the first event after a quiet spell: at once
                self._flush_events()
            else:
                self._coalesce_timer = self.set_timer(wait, self._flush_events)

    def _flush_events(self) -> None:
        self._coalesce_timer = None
        self._event_posted.clear()  # events from now on are not covered by this update
        if self._refreshing or self._modal_open():
            self._events_waiting = True  # the batch stays; flushed after that refresh
            return
        self._last_flush = time.monotonic()
        with self._ev_lock:
            events, overflow = self._ev_batch, self._ev_overflow
            self._ev_batch, self._ev_overflow = [], False
        if overflow or self.topology is None:
            if overflow:
                self.fallbacks = (self.fallbacks + [f"more than {EVENT_BATCH_MAX} events"])[-8:]
            self.request_refresh()
        elif events:
            self._refreshing = True
            self._patch(self.topology, events)

    def on_watch_stopped(self, msg: WatchStopped) -> None:
        self._start_fallback(msg.reason)

    def _start_fallback(self, reason: str) -> None:
        self._live = f"polling every {FALLBACK_REFRESH_S:g} s ({reason})"
        if self._fallback_timer is None:
            self._fallback_timer = self.set_interval(FALLBACK_REFRESH_S, self.request_refresh)
        self._render_status()

    def on_unmount(self) -> None:
        self._stop_watch.set()

    # ------------------------------------------------------------ rendering
    def _render_topbar(self) -> None:
        text = Text()
        text.append(" ipvlan-tui ", style="bold #0b0e14 on #ffb454")
        where = "demo: in-memory kernel, nothing on this host is touched" if self.demo else "this host"
        text.append(f"  {where}", style="#8a9199")
        if self.caps is not None:
            text.append("   engines: ", style="#8a9199")
            text.append("netns ", style="")
            text.append("✓", style="green")
            docker = self.caps.docker
            text.append(" · docker ")
            if docker == "ok":
                text.append("✓", style="green")
            elif docker == "off":
                text.append("off", style="dim")
            else:
                text.append("unreachable", style="red")
            mode = "read-write" if self.caps.can_change else "read-only"
            text.append(f"   {mode}", style="green" if self.caps.can_change else "bold yellow")
        self.query_one("#topbar", Static).update(text)

    def _render_status(self) -> None:
        text = Text()
        if self._live == "events":
            text.append(" ● live", style="green")
            text.append(" (netlink events)", style="dim")
        elif self._live == "starting":
            text.append(" ◌ starting", style="dim")
        else:
            text.append(f" ◌ {self._live}", style="yellow")
        if self.topology is not None:
            inv = self.topology.inventory
            nets = self.topology.networks
            eps = sum(len(n.endpoints) for n in nets)
            text.append(f"   {len(inv.links)} links · {len(nets)} networks · {eps} endpoints",
                        style="#8a9199")
        if self.query_text:
            text.append(f"   filter: {self.query_text}", style="bold #ffb454")
        self.query_one("#status", Static).update(text)

    def _render_banners(self, topo: Topology) -> None:
        caps = self.caps

        def show(id_: str, message: str | None, cls: str = "warn") -> None:
            banner = self.query_one(f"#{id_}", Static)
            banner.display = bool(message)
            if message:
                banner.update(Text(message))
                banner.set_classes(f"banner {cls}")

        show("banner-readonly",
             None if caps.root else "⚠ Read-only: not root. The inventory is live, but creating, "
             "attaching and deleting need root or CAP_NET_ADMIN (run with sudo).")
        missing = caps.missing_drivers
        show("banner-drivers",
             None if not missing else
             f"⚠ This kernel lacks the {', '.join(missing)} driver(s): creating is disabled. "
             "Try the lab VM: `ipvlan-tui lab shell`. The inventory still shows.", "error")
        docker = caps.docker
        show("banner-docker",
             None if docker in ("ok", "off") else
             f"⚠ Docker is unreachable ({docker}); Docker networks are not shown. "
             "Everything else keeps working; the console reconnects when the daemon is back.")
        errors = "; ".join(topo.inventory.errors)
        show("banner-errors", f"⚠ partly read: {errors}" if errors else None)

    # ------------------------------------------------------------ selection
    def _focused_panel(self) -> str | None:
        focused = self.focused
        if isinstance(focused, ResourceTable):
            return focused.panel
        return None

    def selected(self) -> object | None:
        """The object under the cursor of the focused panel (or topology node)."""
        focused = self.focused
        if isinstance(focused, ResourceTable):
            row = focused.current()
            return row.obj if row else None
        if isinstance(focused, TopologyTree) and focused.cursor_node is not None:
            return focused.cursor_node.data
        return self._last_selected

    _last_selected: object | None = None
    _detail_obj: object | None = None  # what the detail area shows

    def _show_detail(self) -> None:
        obj = self.selected()
        if obj is not None:
            self._last_selected = obj
        self._detail_obj = self._last_selected
        self.query_one("#detail", Static).update(detail_for(self._last_selected, self.index))

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if isinstance(event.data_table, ResourceTable) and event.data_table.has_focus:
            self._show_detail()

    def on_descendant_focus(self, event) -> None:
        try:
            if isinstance(event.widget, ResourceTable):
                self._show_detail()
        except ScreenStackError:  # focus moves while the app shuts down
            pass

    def on_tree_node_highlighted(self, event) -> None:
        if event.node.data is not None:
            self._last_selected = self._detail_obj = event.node.data
            self.query_one("#detail", Static).update(detail_for(event.node.data, self.index))

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-topology":
            self.query_one(TopologyTree).rebuild_if_dirty()

    # ---------------------------------------------------------- permissions
    def why_not(self, action: str) -> str:
        """Why a change action is disabled now ("" when it is allowed)."""
        if action not in CHANGE_ACTIONS:
            return ""
        if self.caps is None:
            return "still reading the host"
        if not self.caps.root:
            return self.caps.why_read_only
        if action in ("new_network", "attach") and self.caps.missing_drivers:
            return self.caps.why_read_only
        return ""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in CHANGE_ACTIONS and self.why_not(action):
            return None  # shown, greyed out
        return True

    def _refuse(self, action: str) -> bool:
        reason = self.why_not(action)
        if reason:
            self.notify(reason, title="Not available", severity="warning")
        return bool(reason)

    # -------------------------------------------------------------- actions
    def action_panel(self, n: int) -> None:
        if n <= 4:
            self.query_one(f"#table-{PANELS[n - 1]}", ResourceTable).focus()
            self.query_one("#right", TabbedContent).active = "tab-detail"
            return
        tabs = self.query_one("#right", TabbedContent)
        tabs.active = TABS[n]
        self.call_after_refresh(self._focus_tab, TABS[n])

    def _focus_tab(self, tab: str) -> None:
        if tab == "tab-topology":
            self.query_one(TopologyTree).focus()
        elif tab == "tab-log":
            self.query_one("#log-table", DataTable).focus()
        elif tab == "tab-ping":
            from ipvlan_tui.tui.ping import PingPane
            self.query_one(PingPane).focus_first()
        elif tab == "tab-detail":
            self.query_one("#detail-scroll").focus()

    def action_topology(self) -> None:
        self.action_panel(6)

    def action_log(self) -> None:
        self.action_panel(8)

    def action_ping(self) -> None:
        from ipvlan_tui.tui.ping import PingPane
        obj = self.selected()
        pane = self.query_one(PingPane)
        if isinstance(obj, Endpoint):
            pane.set_source(obj.name)
        elif isinstance(obj, Network):
            pane.set_matrix_network(obj.spec.name)
        self.action_panel(7)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_refresh(self) -> None:
        self.request_refresh()
        self.notify("refreshing", timeout=1)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value.strip()
        for panel in self.query(Panel):
            panel.show(self.rows[panel.panel], self.query_text)
        self._render_status()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        first = next((p for p in self.query(Panel) if p.table.items), None)
        (first.table if first else self.query_one("#table-links", ResourceTable)).focus()

    def action_escape(self) -> None:
        if self.screen.maximized is not None:
            self.screen.minimize()
            return
        box = self.query_one("#filter", Input)
        if box.display or self.query_text:
            box.value = ""
            box.display = False
            self.query_one("#table-links", ResourceTable).focus()

    def action_zoom(self) -> None:
        if self.screen.maximized is not None:
            self.screen.minimize()
        elif self.focused is not None:
            self.screen.maximize(self.focused)

    def action_resize(self, delta: int) -> None:
        self.left_width = max(25, min(85, self.left_width + delta))
        self._apply_width()

    def _apply_width(self) -> None:
        self.query_one("#left").styles.width = f"{self.left_width}%"

    def action_copy(self) -> None:
        tabs = self.query_one("#right", TabbedContent)
        if tabs.active == "tab-log" or self.focused is self.query_one("#log-table"):
            entry = self.query_one(LogPane).current()
            if entry is None:
                self.notify("the log is empty")
                return
            text = entry_text(entry)
        else:
            obj = self.selected()
            if isinstance(obj, Link):
                text = "\n".join(link_commands(obj))
            elif isinstance(obj, Network):
                text = "\n".join(network_commands(obj))
            elif isinstance(obj, Endpoint):
                text = "\n".join(endpoint_commands(obj, self.index.network_by_name.get(obj.network)
                                                   if self.index else None))
            else:
                self.notify("select a row first")
                return
        self.copy_to_clipboard(text)
        self.notify(f"copied {len(text.splitlines())} line(s) to the clipboard", timeout=2)

    # ------------------------------------------------------------- changes
    def action_new_network(self) -> None:
        if self._refuse("new_network"):
            return
        from ipvlan_tui.tui.wizard import NetworkWizard
        self.push_screen(NetworkWizard(self.controller, self.topology, self.caps),
                         self._after_change)

    def action_attach(self) -> None:
        if self._refuse("attach"):
            return
        from ipvlan_tui.tui.attach import AttachScreen
        obj = self.selected()
        network = obj.spec.name if isinstance(obj, Network) else (
            obj.network if isinstance(obj, Endpoint) else None)
        self.push_screen(AttachScreen(self.controller, self.topology, network), self._after_change)

    def action_apply_map(self) -> None:
        from ipvlan_tui.tui.mapscreen import MapApplyScreen
        self.push_screen(MapApplyScreen(self.controller, self.caps), self._after_change)

    def action_detach(self) -> None:
        obj = self.selected()
        if not isinstance(obj, Endpoint):
            self.notify("select an endpoint to detach (panel 4)", severity="warning")
            return
        self.action_delete()

    def action_delete(self) -> None:
        if self._refuse("delete"):
            return
        obj = self.selected()
        if isinstance(obj, Network):
            self._plan_delete("network", obj.spec.name)
        elif isinstance(obj, Endpoint):
            self._plan_delete("endpoint", obj.name)
        else:
            self.notify("select a network (3) or an endpoint (4) to delete; links and VLANs are "
                        "removed with the network that made them", severity="warning")

    @work(thread=True, group="plan-delete", exclusive=True)
    def _plan_delete(self, kind: str, name: str) -> None:
        ctl = self.controller
        note = ""
        force = False
        try:
            if kind == "network":
                try:
                    _, plan = ctl.plan_network_remove(name)
                except ValidationError as exc:
                    if "still attached" not in exc.problem:
                        raise
                    _, plan = ctl.plan_network_remove(name, force=True)
                    force = True
                    note = f"⚠ {exc.problem}: they are removed first."
            else:
                _, plan = ctl.plan_endpoint_remove(name)
        except IpvlanTuiError as exc:
            self.call_from_thread(self.notify, str(exc), title=f"Cannot delete {name}",
                                  severity="error")
            return
        self.call_from_thread(self._confirm_delete, kind, name, plan, note, force)

    def _confirm_delete(self, kind, name, plan, note, force) -> None:
        title = f"Delete network {name}?" if kind == "network" else f"Detach endpoint {name}?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._remove(kind, name, force)

        self.push_screen(ConfirmScreen(title, plan.steps, note=note), answered)

    @work(thread=True, group="change")
    def _remove(self, kind: str, name: str, force: bool) -> None:
        try:
            if kind == "network":
                result = self.controller.remove_network(name, force=force)
            else:
                result = self.controller.remove_endpoint(name)
        except Exception as exc:  # noqa: BLE001 - reported, the log has the details
            self.post_message(OperationDone(f"delete {kind} {name}", error=exc))
            return
        self.post_message(OperationDone(f"delete {kind} {name}", result=result))

    def on_operation_done(self, msg: OperationDone) -> None:
        if msg.error is not None:
            self.notify(str(msg.error), title=f"{msg.what} failed", severity="error", timeout=8)
        else:
            self.notify(f"{msg.what}: done", timeout=3)
        self.request_refresh()

    def _after_change(self, result: object) -> None:
        if result:
            self.notify(str(result), timeout=4)
        self.call_after_refresh(self.request_refresh)  # after the modal is gone

    # ------------------------------------------------------- command palette
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        entries = [
            ("New network", "the creation wizard (n)", "new_network"),
            ("Attach endpoint", "attach a namespace or container to a network (a)", "attach"),
            ("Apply map file", "a map file's diff and plan, then apply it (M)", "apply_map"),
            ("Delete selected", "remove the selected network or endpoint, after a confirmation (d)",
             "delete"),
            ("Detach endpoint", "remove the selected endpoint (x)", "detach"),
            ("Ping", "ping from the selected endpoint, or a matrix (p)", "ping"),
            ("Topology", "the live tree: parent, VLAN, network, endpoints (t)", "topology"),
            ("Log", "every action with its commands (l)", "log"),
            ("Filter", "filter every panel (/)", "filter"),
            ("Refresh", "read the host again now (r)", "refresh"),
            ("Copy commands", "copy the commands of the selected row or log entry (c)", "copy"),
            ("Zoom panel", "maximise the focused panel (z)", "zoom"),
            ("Help", "keys and what the panels show (?)", "help"),
        ]
        for i, p in enumerate(("Parent links", "VLANs", "Networks", "Endpoints", "Detail",
                               "Topology pane", "Ping pane", "Log pane"), 1):
            entries.append((f"Go to {p}", f"panel {i} ({i})", f"panel({i})"))
        for title, help_, action in entries:
            name = action.split("(")[0]
            why = self.why_not(name)
            if why:
                yield SystemCommand(f"{title} (disabled)", why,
                                    lambda w=why: self.notify(w, severity="warning"))
            else:
                yield SystemCommand(title, help_, lambda a=action: self.run_action(a))
        yield from super().get_system_commands(screen)


def run_app(state_dir: str | None = None, demo: bool = False, hosts: list[str] | None = None) -> int:
    """Entry point for `ipvlan-tui` with no command (and `--demo`); `hosts`: the one
    Docker daemon (URL) the console shows, else the local default."""
    from ipvlan_tui.controller import open_controller

    ctl = open_controller(state_dir, demo=demo, hosts=hosts or ())
    if demo:
        actions.populate_demo(ctl)
    app = IpvlanApp(ctl, demo=demo)
    app.run()
    return app.return_code or 0
