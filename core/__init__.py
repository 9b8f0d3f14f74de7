"""The foundation every app builds on: the run lifecycle, the job registry, JSON and UTC helpers.

Layers (each imports only those before it): ``core`` <- ``marketdata`` <- ``strategies`` <- ``backtests``
<- ``analytics`` <- ``interfaces`` (API, admin, commands) <- ``config``. ``core.jsonsafe`` and
``core.timeutil`` are pure (no Django) so the engine and the analytics math may use them.
"""
