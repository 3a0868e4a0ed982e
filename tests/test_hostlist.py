"""RFC 29 hostlists: SPEC §2.2 and §14 cases 9-13."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fluxpool import hostlist
from fluxpool.hostlist import Hostlist, compress, expand

# ---------------------------------------------------------------- case 9 and §2.2 expanding


def test_case_9_expand_mixed_groups():
    """case 9: expand "node[0-3,7],login[01-02]"."""
    assert expand("node[0-3,7],login[01-02]") == [
        "node0", "node1", "node2", "node3", "node7", "login01", "login02",
    ]


@pytest.mark.parametrize(
    "text, names",
    [
        # padding: at least as many digits as the low bound was written with
        ("n[08-10]", ["n08", "n09", "n10"]),
        ("n[8-10]", ["n8", "n9", "n10"]),
        ("n[098-101]", ["n098", "n099", "n100", "n101"]),
        ("n[0-2,07]", ["n0", "n1", "n2", "n07"]),
        ("n[8-010]", ["n8", "n9", "n10"]),
        # the suffix is copied
        ("n[1-3]-ib", ["n1-ib", "n2-ib", "n3-ib"]),
        ("rack[1-2]a", ["rack1a", "rack2a"]),
        # written order and duplicates kept
        ("foo[3,2]", ["foo3", "foo2"]),
        ("foo[1,1]", ["foo1", "foo1"]),
        ("b,a,b", ["b", "a", "b"]),
        ("n[5-6],n[0-1]", ["n5", "n6", "n0", "n1"]),
        ("n[3-3]", ["n3"]),
        # plain hosts
        ("alpha", ["alpha"]),
        ("n1-ib", ["n1-ib"]),
        ("foo1,fooi", ["foo1", "fooi"]),
        # separators: commas, spaces, tabs; runs ignored; commas in brackets don't split
        ("a,,b", ["a", "b"]),
        ("a b", ["a", "b"]),
        ("a\tb", ["a", "b"]),
        ("a, \t b", ["a", "b"]),
        (",a,", ["a"]),
        ("n[1,3] m[2]", ["n1", "n3", "m2"]),
        ("n[0-1],n[5]", ["n0", "n1", "n5"]),
    ],
)
def test_case_9_expand_rules(text, names):
    """case 9 (§2.2 rules): padding, suffixes, order, duplicates and separators."""
    assert expand(text) == names
    assert list(Hostlist(text)) == names
    assert len(Hostlist(text)) == len(names)


def test_case_9_expand_empty():
    """case 9 (§2.2): text with no tokens expands to no hosts."""
    assert expand("") == []
    assert len(Hostlist("")) == 0


# ---------------------------------------------------------------- case 10 and §2.2 compressing

TABLE = [
    (["node0", "node1", "node2", "node3"], "node[0-3]"),
    (["foo1", "foo2", "foo3", "fooi"], "foo[1-3],fooi"),
    (["foo1", "fooi", "foo2", "foo3"], "foo1,fooi,foo[2-3]"),
    (["foo12", "foo4", "foo1", "foo2"], "foo[12,4,1-2]"),
    (["rank7", "rank20"], "rank[7,20]"),
    (["n01", "n02", "n03"], "n[01-03]"),
    (["solo", "rank1", "rank2"], "solo,rank[1-2]"),
    (["alpha"], "alpha"),
]


@pytest.mark.parametrize("names, text", TABLE)
def test_case_10_compress_table(names, text):
    """case 10: each row of the §2.2 table compresses to exactly the string shown."""
    assert compress(names) == text
    assert compress(iter(names)) == text
    assert str(Hostlist(names)) == text
    assert expand(text) == names


@pytest.mark.parametrize(
    "names, text",
    [
        (["n1-ib", "n2-ib"], "n1-ib,n2-ib"),
        (["n9", "n10"], "n[9-10]"),
        (["n09", "n10"], "n[09-10]"),
        (["n9", "n010"], "n[9,010]"),
        (["n3", "n2"], "n[3,2]"),
        (["n1", "n1"], "n[1,1]"),
        (["n5"], "n5"),
        (["n05"], "n05"),
        (["n1", "m1", "n2"], "n1,m1,n2"),
        (["n0", "n1", "n3", "n4"], "n[0-1,3-4]"),
        (["n98", "n99", "n100"], "n[98-100]"),
        (["n098", "n099", "n100"], "n[098-100]"),
        (["a", "a"], "a,a"),
        ([], ""),
    ],
)
def test_case_10_compress_rules(names, text):
    """case 10 (§2.2 rules): suffix names stand alone, padding agreement, no sorting
    or deduplication."""
    assert compress(names) == text
    assert expand(text) == names


# ---------------------------------------------------------------- case 11, 12


@pytest.mark.parametrize(
    "text",
    ["foo[", "foo[1,3", "foo]", "foo[x-y]", "[]", "foo[]", "foo[3-1]", "foo[1-]", "foo[-1]"],
)
def test_case_11_malformed_hostlists(text):
    """case 11: malformed hostlists raise ValueError quoting the text."""
    with pytest.raises(ValueError) as info:
        expand(text)
    assert text in str(info.value)
    with pytest.raises(ValueError):
        Hostlist(text)


def test_case_12_range_too_large():
    """case 12: a single range of more than 1,048,576 hosts is refused."""
    with pytest.raises(ValueError) as info:
        expand("foo[0-1048576]")
    assert "foo[0-1048576]" in str(info.value)
    with pytest.raises(ValueError):
        expand("foo[1-1048577]")
    with pytest.raises(ValueError):
        Hostlist("foo[0-1048576]")


# ---------------------------------------------------------------- case 13

PREFIXES = ["n", "node", "a-b", "x1y", "login", "rack-"]


@st.composite
def host_names(draw):
    prefix = draw(st.sampled_from(PREFIXES))
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return prefix  # no trailing digits
    number = draw(st.integers(0, 1200))
    width = draw(st.integers(1, 4))
    name = f"{prefix}{number:0{width}d}"
    if kind == 1:
        name += draw(st.sampled_from(["-ib", "a", "-x2z"]))  # digits not at the end
    return name


@st.composite
def name_lists(draw):
    """Lists mixing runs of consecutive numbers with random names."""
    names = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            prefix = draw(st.sampled_from(PREFIXES))
            start = draw(st.integers(0, 1100))
            width = draw(st.integers(1, 4))
            count = draw(st.integers(1, 30))
            step = draw(st.sampled_from([1, 1, -1]))
            names.extend(f"{prefix}{start + step * i:0{width}d}"
                         for i in range(count) if start + step * i >= 0)
        else:
            names.extend(draw(st.lists(host_names(), max_size=10)))
    return names


@settings(max_examples=200, deadline=None, database=None)
@given(name_lists())
def test_case_13_round_trip(names):
    """case 13: expand(compress(names)) == names, order and duplicates kept."""
    text = compress(names)
    assert expand(text) == names
    assert list(Hostlist(text)) == names
    assert str(Hostlist(names)) == text


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(host_names(), max_size=40))
def test_case_13_round_trip_random_names(names):
    """case 13: round trip for lists of unrelated names, duplicates included."""
    assert expand(compress(names)) == names


# ---------------------------------------------------------------- Hostlist type


def test_hostlist_value_type():
    """§9.2: Hostlist is iterable in order, has len and in, str() compressed."""
    import fluxpool

    h = Hostlist("node[0-3]")
    assert list(h) == ["node0", "node1", "node2", "node3"]
    assert len(h) == 4
    assert "node2" in h and "node9" not in h
    assert str(h) == "node[0-3]"
    assert str(Hostlist(["b1", "b2", "a"])) == "b[1-2],a"
    assert hostlist.Hostlist is Hostlist
    assert fluxpool.Hostlist is Hostlist
