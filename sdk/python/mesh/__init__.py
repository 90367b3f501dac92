"""Mesh client SDK: push and pop messages through a Mesh (PTP/1.0) node.

Two APIs over one HTTP transport (standard library only):

* Pythonic: ``mesh.Client(address).session(id, target_inst=…)`` with
  ``push/pop/peek/release``, typed errors (``mesh.PTPError`` and its
  subclasses), ``mesh.aio.Client`` for asyncio.
* The older Mesh Python client's: ``mesh.start()``, ``Routable``,
  ``ServiceLoader``, ``Transport``, ``mesh.prsim.Metadata``, ``log``.
"""
from . import log
from .client import DEFAULT_MAX_MESSAGE, SPLIT_CHUNK, SPLIT_MARK, Client, Session, split_topic
from .compat import Context, Mesh, MeshSession, MeshTransport, ServiceLoader, _on_start, _on_stop, start, stop
from .errors import (ERRORS, BadRequest, BufferFull, NetworkUnreachable, NoProvider, NotFound, NotPermitted,
                     NotWoven, PTPError, SessionReleased, SystemError_, Timeout, TooLarge, Unauthorised)
from .prsim import Metadata, Routable, Transport

try:  # service RPC (@spi, @mpi, @mps) lives in mesh/rpc*.py
    from .rpc import mpi, mps, spi  # noqa: F401
    from . import rpc as _rpc

    # mesh.start() serves the @mps providers; mesh.stop() withdraws them.
    for _hooks, _name in ((_on_start, "start_providers"), (_on_stop, "stop_providers")):
        _fn = getattr(_rpc, _name, None)
        if _fn is not None and _fn not in _hooks:
            _hooks.append(_fn)
except ImportError:
    pass

__version__ = "0.1.0"

__all__ = [
    "Client", "Session", "PTPError", "BadRequest", "Unauthorised", "NotFound", "TooLarge", "SystemError_",
    "Timeout", "NoProvider", "NetworkUnreachable", "SessionReleased", "NotPermitted", "NotWoven", "BufferFull",
    "ERRORS", "DEFAULT_MAX_MESSAGE", "SPLIT_CHUNK", "SPLIT_MARK", "split_topic",
    "start", "stop", "Mesh", "Context", "log", "ServiceLoader", "Transport", "Routable", "Metadata",
    "MeshTransport", "MeshSession",
]
if "spi" in globals():
    __all__ += ["spi", "mpi", "mps"]
