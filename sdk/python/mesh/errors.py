"""PTP status codes and the exceptions that carry them.

Every failed call raises a :class:`PTPError` whose ``code`` is the node's PTP
code (``E0000000618`` …). Common codes have their own subclass, chosen from
one table (:data:`ERRORS`), so callers can ``except mesh.NotWoven``.
"""
from __future__ import annotations

from typing import Dict, Optional, Type

OK = "E0000000000"


class PTPError(Exception):
    """A call the node answered with a PTP code other than success.

    ``code`` is the PTP code (``"E0000000413"``), ``message`` the node's text
    and ``status`` the HTTP status of the reply (0 when there was none).
    """

    code: str = ""

    def __init__(self, code: str, message: str = "", status: int = 0):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.status = status


class BadRequest(PTPError):
    """E0000000400: the node could not accept the request as sent."""


class Unauthorised(PTPError):
    """E0000000403: the caller is not admitted."""


class NotFound(PTPError):
    """E0000000404."""


class TooLarge(PTPError):
    """E0000000413: the body is larger than the node's message limit."""


class SystemError_(PTPError):
    """E0000000500: the node failed."""


class Timeout(PTPError):
    """E0000000601: a call or a body did not complete in time."""


class NoProvider(PTPError):
    """E0000000602: no provider serves the call."""


class NetworkUnreachable(PTPError):
    """E0000000607: the partner could not be reached."""


class SessionReleased(PTPError):
    """E0000000608: the session was released (and is in its grace period)."""


class NotPermitted(PTPError):
    """E0000000614: the caller may not call this method."""


class NotWoven(PTPError):
    """E0000000618: the target node or institution is not a woven partner."""


class BufferFull(PTPError):
    """E0000000700: the queues are full (or too many pops wait)."""


#: PTP code → exception class; codes not listed raise :class:`PTPError`.
ERRORS: Dict[str, Type[PTPError]] = {
    "E0000000400": BadRequest,
    "E0000000403": Unauthorised,
    "E0000000404": NotFound,
    "E0000000413": TooLarge,
    "E0000000500": SystemError_,
    "E0000000601": Timeout,
    "E0000000602": NoProvider,
    "E0000000607": NetworkUnreachable,
    "E0000000608": SessionReleased,
    "E0000000614": NotPermitted,
    "E0000000618": NotWoven,
    "E0000000700": BufferFull,
}


def error_for(code: str, message: str = "", status: int = 0) -> PTPError:
    """The exception for a PTP code: its subclass from ERRORS, else PTPError."""
    return ERRORS.get(code, PTPError)(code, message, status)


def check(code: str, message: str = "", status: int = 0) -> None:
    """Raise the exception for code unless it is success."""
    if code != OK:
        raise error_for(code, message, status)


def code_of_status(status: int) -> Optional[str]:
    """A PTP code for a bare HTTP status, for replies without one."""
    return {200: OK, 400: "E0000000400", 403: "E0000000403", 404: "E0000000404",
            413: "E0000000413", 429: "E0000000700", 504: "E0000000601"}.get(status)
