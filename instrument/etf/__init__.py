"""The External Term Format (ETF): Erlang terms as bytes, both ways, exactly.

>>> from elixir_scope.instrument.etf import Atom, encode, decode
>>> decode(encode((Atom("ok"), [1, 2], b"bin")))
(Atom('ok'), [1, 2], b'bin')

Mapping (also in docs/distribution.md): atom <-> ``Atom`` (true/false <-> ``bool``);
binary <-> ``bytes`` (a ``str`` is sent as a UTF-8 binary, one way); integer <-> ``int``;
float <-> ``float``; tuple <-> ``tuple``; list <-> ``list`` (``STRING_EXT`` -> ``Charlist``,
a list subclass); map <-> ``dict`` (unhashable keys -> ``FrozenList``/``FrozenMap``; keys
Python would merge -> ``ExactKey``); improper list, pid, reference, port, fun, export and
bitstring -> the types in ``terms``. ``None`` is refused.
"""

from .decode import DecodeError, decode, decode_one
from .encode import EncodeError, encode, encode_into
from .terms import (
    Atom,
    BitBinary,
    Charlist,
    ExactKey,
    Export,
    FrozenList,
    FrozenMap,
    Fun,
    ImproperList,
    Pid,
    Port,
    Ref,
    freeze,
)

__all__ = [
    "Atom",
    "BitBinary",
    "Charlist",
    "DecodeError",
    "EncodeError",
    "ExactKey",
    "Export",
    "FrozenList",
    "FrozenMap",
    "Fun",
    "ImproperList",
    "Pid",
    "Port",
    "Ref",
    "decode",
    "decode_one",
    "encode",
    "encode_into",
    "freeze",
]
