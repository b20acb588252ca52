"""Trace specs: a small compiler from rexbug/redbug-style strings to match specs.

::

    compile_spec("MyApp.Cart.add(item, price) when price > 100 :: return")
    compile_spec("cart:add(X, Y) when Y > 100 -> return")

scan (``scanner``) -> parse (``parser``) -> generate (``generate``); one error type,
``SpecError`` (with the position and a hint), and ``DangerousSpecError`` for specs refused for
safety unless ``force=True``.
"""

from .errors import DangerousSpecError, SpecError
from .generate import HOT_MODULES, TraceSpec, compile_spec

__all__ = ["HOT_MODULES", "DangerousSpecError", "SpecError", "TraceSpec", "compile_spec"]
