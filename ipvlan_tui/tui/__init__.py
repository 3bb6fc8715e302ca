"""The console: a Textual app over the controller (and the probe/expect modules).

Nothing below this package imports pyroute2 or docker; blocking controller
calls run in thread workers and come back as messages (see messages.py).
"""
