"""The older client's logging module: ``from mesh import log; log.info("…")``.

A thin layer over the standard ``logging`` logger named ``mesh``; when the
application configured no logging, lines go to standard error at INFO.
"""
from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("mesh")


def _ready() -> logging.Logger:
    if not logger.handlers and not logging.getLogger().handlers:
        h = logging.StreamHandler()
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(h)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
    return logger


def debug(msg: Any, *args: Any) -> None:
    _ready().debug(msg, *args)


def info(msg: Any, *args: Any) -> None:
    _ready().info(msg, *args)


def warn(msg: Any, *args: Any) -> None:
    _ready().warning(msg, *args)


warning = warn


def error(msg: Any, *args: Any) -> None:
    """Log an error; an exception among args is logged with its traceback."""
    exc = next((a for a in args if isinstance(a, BaseException)), None)
    rest = tuple(a for a in args if a is not exc)
    _ready().error(msg, *rest, exc_info=exc)


def fatal(msg: Any, *args: Any) -> None:
    _ready().critical(msg, *args)
