"""An event storm reaching the console (issue 8): thousands of events from the
watcher thread become a handful of messages and refreshes, never one each, and
the view ends with what the kernel holds. The kernel lab test
(tests/kernel/test_event_storm.py) does the same with real netlink and ENOBUFS;
this one is quick and runs everywhere, on the in-memory kernel."""

from __future__ import annotations

import threading
import time

from .conftest import SIZE, app_for, loaded, until

EVENTS = 5000


async def test_5000_events_are_a_handful_of_messages_and_end_right(ctl):
    go = threading.Event()
    done = threading.Event()

    def storm_watch(callback, stop):  # what KernelEngine.watch hands over in a burst
        callback({"kind": "resync", "name": "", "netns": "", "ifindex": 0})
        go.wait(30)
        for i in range(EVENTS):
            callback({"kind": "link_changed", "name": f"storm{i % 100}", "netns": "", "ifindex": 0})
        done.set()
        while not stop():
            time.sleep(0.05)

    ctl.kernel.watch = storm_watch
    app = app_for(ctl, watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await until(pilot, lambda: app.events_in >= 1, what="the watcher")
        for i in range(100):  # the kernel changed; the events say so, 50 times over each
            ctl.kernel.create_dummy(f"storm{i}")
        queue_max = 0
        go.set()
        while not done.is_set():
            queue_max = max(queue_max, app._message_queue.qsize())
            await pilot.pause(0.01)
        await until(pilot, lambda: {f"link:storm{i}" for i in range(100)}
                    <= {r.key for r in app.query_one("#table-links").items}, timeout=30,
                    what="the storm's links")
        print(f"{app.events_in} events -> {app.event_posts} KernelChanged messages, "
              f"queue at most {queue_max}")
        assert app.events_in == EVENTS + 1
        assert app.event_posts <= 20  # one in flight at a time: not one per event
        assert queue_max <= 10
        assert app._fallback_timer is None
