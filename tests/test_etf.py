"""The External Term Format codec: the mapping, byte-exact encodings the node agrees with,
and the errors for bad input. Round trips through a real node are in test_etf_node.py."""

from __future__ import annotations

import zlib

import pytest

from elixir_scope.instrument.etf import (
    Atom,
    BitBinary,
    Charlist,
    DecodeError,
    EncodeError,
    ExactKey,
    Export,
    FrozenList,
    FrozenMap,
    Fun,
    ImproperList,
    Pid,
    Port,
    Ref,
    decode,
    decode_one,
    encode,
    freeze,
)


def test_atom_is_interned_and_not_a_str():
    assert Atom("ok") is Atom("ok")
    assert Atom("ok") != "ok"
    assert not isinstance(Atom("ok"), str)
    assert str(Atom("ok")) == "ok" and repr(Atom("ok")) == "Atom('ok')"
    with pytest.raises(AttributeError):
        Atom("ok").name = "x"
    with pytest.raises(TypeError):
        Atom(b"ok")


def test_pid_prints_like_its_node():
    pid = Pid(Atom("a@h"), 83, 0, 1)
    assert str(pid) == "<0.83.0>"
    assert hash(pid) == hash(Pid(Atom("a@h"), 83, 0, 1))


# What OTP 25 produces for the same term with term_to_binary(T, [{minor_version, 2}]) (UTF-8 atoms, as over distribution).
KNOWN = [
    (Atom("ok"), bytes.fromhex("8377026f6b")),
    (True, bytes.fromhex("83770474727565")),
    (1, bytes.fromhex("836101")),
    (-1, bytes.fromhex("8362ffffffff")),
    (2**40, bytes.fromhex("836e0600000000000001")),
    (1.5, bytes.fromhex("463ff8000000000000").rjust(10, b"\x83")),
    (b"ab", bytes.fromhex("836d000000026162")),
    ([1, 2], bytes.fromhex("836b00020102")),
    ([], bytes.fromhex("836a")),
    ((), bytes.fromhex("836800")),
    ({}, bytes.fromhex("837400000000")),
    (ImproperList([Atom("a")], Atom("b")), bytes.fromhex("836c00000001770161770162")),
    (BitBinary(b"\xe0", 3), bytes.fromhex("834d0000000103e0")),
]


@pytest.mark.parametrize("term,raw", KNOWN, ids=[repr(t) for t, _ in KNOWN])
def test_known_encodings(term, raw):
    assert encode(term) == raw
    assert decode(raw) == term


def test_str_is_a_binary_one_way():
    assert encode("héllo") == encode("héllo".encode())
    assert decode(encode("héllo")) == "héllo".encode()


def test_none_is_refused_with_the_fix():
    with pytest.raises(EncodeError, match=r"Atom\('nil'\)"):
        encode([1, None])
    with pytest.raises(TypeError):  # EncodeError is a TypeError
        encode(None)


def test_unsupported_type():
    with pytest.raises(EncodeError, match="set"):
        encode({1, 2})


def test_charlist_equals_list_and_has_text():
    cl = decode(encode([104, 105]))
    assert type(cl) is Charlist and cl == [104, 105] and cl.text == "hi"
    assert encode(Charlist.from_text("hi")) == encode([104, 105])
    # lists with big ints or non-ints stay plain lists
    assert type(decode(encode([1000, 1]))) is list


def test_bool_and_atoms_true_false():
    assert decode(encode(Atom("true"))) is True
    assert decode(encode(False)) is False
    assert encode(Atom("false")) == encode(False)


def test_integers_all_sizes():
    for n in [0, 255, 256, -1, 2**31 - 1, -(2**31), 2**31, -(2**31) - 1, 2**64, -(2**64), 2**2100, -(2**2100)]:
        assert decode(encode(n)) == n, n


def test_map_keys_that_python_cannot_hash():
    m = {freeze([1, 2]): Atom("a"), freeze({Atom("k"): [1]}): 2, (1, freeze([3])): 3}
    back = decode(encode(m))
    assert back == m
    assert back[freeze([1, 2])] == Atom("a")
    assert isinstance(next(iter(back)), (FrozenList, FrozenMap, tuple))
    assert FrozenList([1]) != (1,)


def test_map_keys_python_would_merge_stay_apart():
    # #{1 => a, 1.0 => b} has two keys in Erlang
    raw = b"\x83t\x00\x00\x00\x02" + encode(1)[1:] + encode(Atom("a"))[1:] + encode(1.0)[1:] + encode(Atom("b"))[1:]
    back = decode(raw)
    assert len(back) == 2
    assert back[ExactKey(1)] == Atom("a") and back[ExactKey(1.0)] == Atom("b")
    assert encode(back) == raw


def test_decode_one_returns_offset():
    data = encode((Atom("ctrl"), 1)) + encode(b"payload")
    t1, off = decode_one(data, 0)
    t2, end = decode_one(data, off)
    assert t1 == (Atom("ctrl"), 1) and t2 == b"payload" and end == len(data)
    with pytest.raises(DecodeError, match="trailing"):
        decode(data)


def test_truncated_and_garbage():
    with pytest.raises(DecodeError, match="truncated"):
        decode(encode(b"abcdef")[:-2])
    with pytest.raises(DecodeError, match="version byte"):
        decode(b"\x00\x01")
    with pytest.raises(DecodeError, match="unknown"):
        decode(b"\x83\x01")
    with pytest.raises(DecodeError, match="LOCAL_EXT"):
        decode(b"\x83\x79abc")


def test_compressed_term():
    inner = encode([b"x" * 1000] * 10)[1:]
    raw = b"\x83\x50" + len(inner).to_bytes(4, "big") + zlib.compress(inner)
    assert decode(raw) == [b"x" * 1000] * 10
    term, off = decode_one(raw + encode(1), 0)
    assert off == len(raw)


def test_old_encodings():
    # ATOM_EXT latin-1, SMALL_ATOM_EXT, PID_EXT, FLOAT_EXT, PORT_EXT, NEW_REFERENCE_EXT
    assert decode(b"\x83d\x00\x02\xe9t") == Atom("ét")
    assert decode(b"\x83s\x04true") is True
    node = b"d\x00\x03a@h"
    assert decode(b"\x83g" + node + bytes.fromhex("00000001 00000002 03")) == Pid(Atom("a@h"), 1, 2, 3)
    assert decode(b"\x83c" + b"1.50000000000000000000e+00".ljust(31, b"\x00")) == 1.5
    assert decode(b"\x83f" + node + bytes.fromhex("00000007 01")) == Port(Atom("a@h"), 7, 1)
    assert decode(b"\x83r\x00\x02" + node + bytes.fromhex("01 00000001 00000002")) == Ref(Atom("a@h"), 1, (1, 2))


def test_pid_port_ref_export_round_trip():
    n = Atom("x@y")
    for t in [Pid(n, 1, 2, 3), Port(n, 5, 7), Port(n, 2**40, 7), Ref(n, 9, (1, 2, 3)), Ref(n, 9, (1, 2, 3, 4, 5)),
              Export(Atom("erlang"), Atom("self"), 0)]:
        assert decode(encode(t)) == t


def test_fun_is_opaque_and_exact():
    # fun(X) -> X + 1 end made by an OTP 25 erl shell (erl_eval fun), term_to_binary'd
    raw = bytes.fromhex(
        "70000000bd01065361aa461590d1bdf1eb62d1a6eb0800000"
        "02a0000000164000865726c5f6576616c612a6200329b0d58"
        "64000d6e6f6e6f6465406e6f686f7374000000090000000000"
        "000000680661016a6400046e6f6e6564000"
        "46e6f6e6574000000006c00000001680564000"
        "6636c61757365610"
        "16c000000016803640003766172610164000158"
        "6a6a6c00000001680564000"
        "26f706101640001"
        "2b68036400037661726101640001586803640007696e74656765726101610"
        "16a6a"
    )
    fun = decode(b"\x83" + raw)
    assert isinstance(fun, Fun) and fun.raw == raw
    assert fun.module == Atom("erl_eval") and fun.arity == 1
    assert encode(fun) == b"\x83" + raw


def test_bitbinary_validation():
    with pytest.raises(ValueError):
        BitBinary(b"\x01", 8)
    with pytest.raises(ValueError):
        BitBinary(b"", 3)
    assert BitBinary(b"\xff", 1) == BitBinary(b"\x80", 1)


def test_improper_list_errors():
    with pytest.raises(EncodeError):
        encode(ImproperList([], 1))
    with pytest.raises(EncodeError):
        encode(ImproperList([1], [2]))


def test_large_binary_is_one_slice():
    blob = bytes(range(256)) * 4096
    assert decode(encode((Atom("b"), blob)))[1] == blob


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_garbage_gives_decode_error_only(raw):
    try:
        decode(b"\x83" + raw)
    except DecodeError:
        pass


def test_deep_nesting_is_a_decode_error():
    with pytest.raises(DecodeError, match="nested too deeply"):
        decode(b"\x83" + b"h\x01" * 100_000 + b"a\x01")


def test_long_unicode_atom_uses_atom_utf8_ext():
    a = Atom("\U0001F600" * 255)  # 1020 bytes: too long for SMALL_ATOM_UTF8
    raw = encode(a)
    assert raw[1] == 118 and decode(raw) is a
    with pytest.raises(ValueError, match="255"):
        Atom("x" * 256)
