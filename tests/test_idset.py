"""RFC 22 idsets: SPEC §2.1 and §14 cases 1-8."""

import os
import subprocess
import sys
import textwrap
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fluxpool
from fluxpool.idset import IDset
from fluxpool import idset

MAX_ID = 2**31 - 1


def reference_encode(ids):
    """Canonical form written independently of the package (SPEC §2.1)."""
    runs = []
    for v in sorted(set(ids)):
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


# ---------------------------------------------------------------- case 1-4


def test_case_1_decode_and_encode_back():
    """case 1: decode "0-3,7,9-12" and encode it back."""
    s = idset.decode("0-3,7,9-12")
    assert isinstance(s, IDset)
    assert list(s) == [0, 1, 2, 3, 7, 9, 10, 11, 12]
    assert set(s) == {0, 1, 2, 3, 7, 9, 10, 11, 12}
    assert len(s) == 9
    assert idset.encode(s) == "0-3,7,9-12"
    assert str(s) == "0-3,7,9-12"
    assert idset.encode([0, 1, 2, 3, 7, 9, 10, 11, 12]) == "0-3,7,9-12"


@pytest.mark.parametrize(
    "ids, text",
    [
        ({3, 4}, "3-4"),
        ({0, 2, 4}, "0,2,4"),
        (set(), ""),
        ({0, 1, 2, 5, 7, 8}, "0-2,5,7-8"),
        ({5}, "5"),
        ({0}, "0"),
    ],
)
def test_case_2_encode_canonical(ids, text):
    """case 2: canonical encoding of small sets (plus the §2.1 example)."""
    assert idset.encode(ids) == text
    assert idset.encode(sorted(ids)) == text
    assert str(IDset(sorted(ids))) == text


def test_case_2_encode_accepts_any_iterable():
    """case 2: encode takes any iterable of ints, in any order."""
    assert idset.encode(iter([8, 7, 5, 2, 1, 0])) == "0-2,5,7-8"
    assert idset.encode(x for x in (4, 3)) == "3-4"
    assert idset.encode(range(0, 0)) == ""
    assert idset.encode(range(10, 20)) == "10-19"
    assert idset.encode(IDset("1-2,4")) == "1-2,4"


def test_case_3_brackets_and_empty():
    """case 3: "[0-3]" equals "0-3"; "" and "[]" are empty."""
    assert idset.decode("[0-3]") == idset.decode("0-3")
    assert list(idset.decode("[0-3]")) == [0, 1, 2, 3]
    assert list(idset.decode("[5]")) == [5]
    for text in ("", "[]"):
        s = idset.decode(text)
        assert len(s) == 0
        assert list(s) == []
        assert str(s) == ""
        assert s == IDset([])


@pytest.mark.parametrize(
    "ids, text",
    [
        ({5}, "5"),
        ({0, 1}, "[0-1]"),
        ({0, 2}, "[0,2]"),
        (set(), ""),
        ({3}, "3"),
        ({0, 1, 2, 5, 7, 8}, "[0-2,5,7-8]"),
    ],
)
def test_case_4_display_form(ids, text):
    """case 4: the bracketed display form."""
    assert idset.display(ids) == text
    assert idset.display(IDset(sorted(ids))) == text


# ---------------------------------------------------------------- case 5-7

MALFORMED = [
    "3-1", "1-1", "a", "-1", "01", " 1", "1 ", "3,1", "1,1", "0-4,3",
    "[1", "1]", "[[1]]", "1-", "+1", "1.5",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_case_5_malformed_idsets(text):
    """case 5: malformed idsets raise ValueError whose message contains the input."""
    with pytest.raises(ValueError) as info:
        idset.decode(text)
    assert text in str(info.value)
    with pytest.raises(ValueError):
        IDset(text)


@pytest.mark.parametrize("text", ["0-[3]", "[1]]", "1-2-3", "1,2-", "0x1", "1e3", "\t1"])
def test_case_5_more_malformed(text):
    """case 5 (§2.1 rules): misplaced brackets and other junk are errors."""
    with pytest.raises(ValueError) as info:
        idset.decode(text)
    msg = str(info.value)
    assert text in msg or repr(text)[1:-1] in msg


def test_case_5_message_names_offending_element():
    """case 5: the message quotes the whole input and the offending element."""
    with pytest.raises(ValueError) as info:
        idset.decode("0-2,9-5,12")
    msg = str(info.value)
    assert "0-2,9-5,12" in msg
    assert "9-5" in msg.replace("0-2,9-5,12", "")


@pytest.mark.parametrize("text", ["1,,2", ",1", "1,", "[1,,2]", ","])
def test_case_6_empty_elements(text):
    """case 6: empty idset elements are errors (F1)."""
    with pytest.raises(ValueError) as info:
        idset.decode(text)
    assert text in str(info.value)


def test_case_7_huge_range_refused_without_allocating():
    """case 7: "0-4000000000" is a ValueError and costs no big allocation."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with pytest.raises(ValueError) as info:
            idset.decode("0-4000000000")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "0-4000000000" in str(info.value)
    assert peak < 4 * 1024 * 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs RLIMIT_AS")
def test_case_7_huge_range_refused_under_address_space_limit():
    """case 7: with only ~48 MiB of address space to spare, decoding still
    raises ValueError (a huge C allocation would fail with MemoryError)."""
    code = textwrap.dedent(
        """
        import resource
        import fluxpool.idset as idset
        def vm_bytes():
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmSize:"):
                        return int(line.split()[1]) * 1024
        limit = vm_bytes() + 48 * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        for text in ("0-4000000000", "4000000000", "0-2147483648"):
            try:
                idset.decode(text)
            except ValueError:
                pass
            else:
                raise SystemExit("accepted " + text)
        print("ok")
        """
    )
    env = dict(os.environ)
    src = os.path.dirname(os.path.dirname(os.path.abspath(idset.__file__)))
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_case_7_id_bound_is_2_31_minus_1():
    """case 7 (§2.1, F6): ids above 2^31 - 1 are refused, the bound itself is fine."""
    assert list(idset.decode(str(MAX_ID))) == [MAX_ID]
    assert len(idset.decode(f"{MAX_ID - 1}-{MAX_ID}")) == 2
    for text in (str(MAX_ID + 1), "4294967296", f"0-{MAX_ID + 1}", "99999999999999999999999"):
        with pytest.raises(ValueError) as info:
            idset.decode(text)
        assert "maximum" in str(info.value)


# ---------------------------------------------------------------- case 8


@st.composite
def id_sets(draw):
    """Sets of up to 10,000 ids below 100,000, mixing runs and single ids."""
    out = set()
    for start, length in draw(
        st.lists(st.tuples(st.integers(0, 99_999), st.integers(1, 2_000)), max_size=8)
    ):
        out.update(range(start, min(start + length, 100_000)))
    out.update(draw(st.sets(st.integers(0, 99_999), max_size=300)))
    if len(out) > 10_000:
        out = set(sorted(out)[:10_000])
    return out


@settings(max_examples=200, deadline=None, database=None)
@given(id_sets())
def test_case_8_round_trip(ids):
    """case 8: decode(encode(s)) == s for random sets of up to 10,000 ids below 100,000."""
    text = idset.encode(ids)
    assert text == reference_encode(ids)
    back = idset.decode(text)
    assert set(back) == ids
    assert list(back) == sorted(ids)
    assert len(back) == len(ids)
    assert back == IDset(ids)
    assert str(back) == text
    shown = idset.display(ids)
    assert shown == (f"[{text}]" if len(ids) > 1 else text)
    assert set(idset.decode(shown)) == ids


@settings(max_examples=100, deadline=None, database=None)
@given(st.sets(st.integers(0, 99_999), max_size=200), st.integers(0, 99_999))
def test_case_8_membership(ids, probe):
    """case 8: IDset membership and equality agree with Python sets."""
    s = IDset(ids)
    assert (probe in s) == (probe in ids)
    assert s == IDset(reference_encode(ids))
    if ids:
        assert s != IDset(ids ^ {probe})


# ---------------------------------------------------------------- IDset type


def test_idset_value_type():
    """§9.2: IDset from text or iterable, ascending iteration, len, in, str, ==."""
    a = IDset("0-3,7")
    b = IDset([7, 3, 2, 1, 0])
    assert a == b
    assert list(b) == [0, 1, 2, 3, 7]
    assert len(a) == 5
    assert 7 in a and 4 not in a
    assert str(b) == "0-3,7"
    assert IDset("0-3") != IDset("0-4")
    assert len(IDset([])) == 0 and len(IDset("")) == 0
    assert IDset([]) == IDset("")
    assert fluxpool.IDset is IDset


def test_idset_wrong_type():
    """§1.2: a non-string, non-iterable is a TypeError, not something stranger."""
    with pytest.raises((TypeError, ValueError)):
        idset.decode(12)
