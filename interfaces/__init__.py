"""The interfaces: the operator console (admin), the REST API and the management commands.

The top layer: it may import every app below it (``analytics``, ``backtests``, ``strategies``, ``marketdata``,
``core``) and none of them imports it. Views, admin actions and commands stay thin: they validate input,
call a service and shape its output.
"""
