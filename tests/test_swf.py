"""The SWF reader: header comments, plain and gzipped files, malformed lines."""

import gzip

import pytest

from fluxpool.swf import SwfFormatError, parse_swf, read_swf

HEADER = """\
; Version: 2.2
; Computer: Linux cluster (Atlas)
; Acknowledge: Moe Jette, LLNL
; Information: https://computing.llnl.gov/
;              http://www.cs.huji.ac.il/labs/parallel/workload/
; MaxNodes: 1152
; MaxProcs: 9216
; StartTime: Fri Nov 10 15:05:01 PST 2006
; Note: Scheduler is Slurm
; Partition:  1  pbatch
; Partition:  2  pdebug
;
; Note: THIS IS A CLEANED VERSION OF THE LOG!
;       The filters used to produce it were
;         submit<=2006-12-18 00:00:00 (1434 jobs removed)
;
"""

JOBS = """\
 1435  3273240     -1      0   -1     -1    -1   -1     -1    -1  5  14  -1 184 -1  1 -1 -1
 1436  3278152     12   3600   64   12.5    -1   64   7200    -1  1  14  -1 184 -1  1 -1 -1
"""


def test_header_keys_values_and_continuations():
    trace = parse_swf((HEADER + JOBS).splitlines(keepends=True))
    fields = trace.header.fields
    assert fields["Version"] == "2.2"
    assert fields["Computer"] == "Linux cluster (Atlas)"
    assert fields["Acknowledge"] == "Moe Jette, LLNL"
    # an indented URL continues the previous key; it is not a key "http"
    assert fields["Information"] == "https://computing.llnl.gov/\nhttp://www.cs.huji.ac.il/labs/parallel/workload/"
    assert "http" not in fields
    # only the first colon separates key from value
    assert fields["StartTime"] == "Fri Nov 10 15:05:01 PST 2006"
    # repeated keys keep every value; keyless lines continue the last key
    assert fields["Partition"] == "1  pbatch\n2  pdebug"
    assert fields["Note"] == (
        "Scheduler is Slurm\nTHIS IS A CLEANED VERSION OF THE LOG!\n"
        "The filters used to produce it were\nsubmit<=2006-12-18 00:00:00 (1434 jobs removed)"
    )
    assert trace.header.max_nodes == 1152
    assert trace.header.max_procs == 9216
    assert len(trace.header.lines) == HEADER.count("\n")
    assert trace.header.lines[0] == "; Version: 2.2"


def test_header_shape_absent_or_unknown():
    trace = parse_swf(["; MaxNodes: -1\n", "; MaxProcs: lots\n"])
    assert trace.header.max_nodes is None
    assert trace.header.max_procs is None
    assert parse_swf([]).header.max_nodes is None


def test_job_fields():
    trace = parse_swf((HEADER + JOBS).splitlines(keepends=True))
    first, second = trace.jobs
    assert (first.job_number, first.submit_time, first.run_time) == (1435, 3273240, 0)
    assert (first.allocated_processors, first.requested_processors, first.requested_time) == (-1, -1, -1)
    assert (second.job_number, second.run_time, second.allocated_processors) == (1436, 3600, 64)
    assert (second.requested_processors, second.requested_time) == (64, 7200)
    assert second.fields[5] == 12.5  # a fractional field is kept as a float
    assert len(second.fields) == 18
    assert second.lineno == HEADER.count("\n") + 2


def test_blank_lines_and_late_comments_are_not_jobs():
    text = "\n" + JOBS.splitlines()[0] + "\n\n; Note: late comment\n" + JOBS.splitlines()[1] + "\r\n"
    trace = parse_swf(text.splitlines(keepends=True))
    assert [j.job_number for j in trace.jobs] == [1435, 1436]
    assert trace.jobs[1].lineno == 5
    assert trace.header.fields["Note"] == "late comment"


def test_plain_and_gzip_files_read_the_same(tmp_path):
    plain = tmp_path / "trace.swf"
    plain.write_text(HEADER + JOBS)
    packed = tmp_path / "trace.swf.gz"
    with gzip.open(packed, "wt") as f:
        f.write(HEADER + JOBS)
    renamed = tmp_path / "gzipped-without-suffix"  # detected by content, not name
    renamed.write_bytes(packed.read_bytes())
    traces = [read_swf(p) for p in (plain, packed, renamed)]
    for trace in traces:
        assert [(j.job_number, j.run_time) for j in trace.jobs] == [(1435, 0), (1436, 3600)]
        assert trace.header.fields == traces[0].header.fields
    assert traces[1].source == str(packed)


def test_corrupt_gzip_is_an_oserror(tmp_path):
    packed = tmp_path / "trace.swf.gz"
    packed.write_bytes(gzip.compress((HEADER + JOBS).encode())[:40])
    with pytest.raises(OSError, match="trace.swf.gz"):
        read_swf(packed)


@pytest.mark.parametrize(
    "line, message",
    [
        ("1 0 -1 10 2 -1 -1 2 10", "expected 18 fields, found 9"),
        ("1 0 -1 10 2 -1 -1 2 10 -1 1 1 1 -1 -1 -1 -1 -1 7", "expected 18 fields, found 19"),
        ("1 0 -1 ten 2 -1 -1 2 10 -1 1 1 1 -1 -1 -1 -1 -1", r"field 4 \(run_time\) is not a number: 'ten'"),
        ("1 0 -1 10 2 -1 -1 2 nan -1 1 1 1 -1 -1 -1 -1 -1", r"field 9 \(requested_time\) is not a number"),
        ("1.5 0 -1 10 2 -1 -1 2 10 -1 1 1 1 -1 -1 -1 -1 -1", r"job number \(field 1\) must be an integer"),
        ("1 0 -1 10 2.5 -1 -1 2 10 -1 1 1 1 -1 -1 -1 -1 -1", r"allocated processors \(field 5\) must be an integer"),
    ],
)
def test_malformed_line_names_its_line_number(line, message):
    good = "1 0 -1 10 2 -1 -1 2 10 -1 1 1 1 -1 -1 -1 -1 -1\n"
    with pytest.raises(SwfFormatError, match=message) as info:
        parse_swf(["; Version: 2.2\n", good, line + "\n"], source="t.swf")
    assert info.value.lineno == 3
    assert str(info.value).startswith("t.swf, line 3: ")
    assert isinstance(info.value, ValueError)


def test_malformed_file_error_names_the_file(tmp_path):
    path = tmp_path / "bad.swf"
    path.write_text(HEADER + "garbage\n")
    with pytest.raises(SwfFormatError, match=f"bad.swf, line {HEADER.count(chr(10)) + 1}: expected 18"):
        read_swf(path)


def test_missing_file_is_an_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_swf(tmp_path / "absent.swf")


# -- reading once, as a stream (issue 15) ------------------------------------------------


def _jobs(trace):
    return [(j.job_number, j.run_time) for j in trace.jobs]


@pytest.mark.parametrize("packed", [False, True])
def test_dash_reads_standard_input(monkeypatch, packed):
    import io
    import sys

    data = (HEADER + JOBS).encode()
    if packed:
        data = gzip.compress(data)
    stdin = io.TextIOWrapper(io.BytesIO(data))
    monkeypatch.setattr(sys, "stdin", stdin)
    trace = read_swf("-")
    assert _jobs(trace) == [(1435, 0), (1436, 3600)]
    assert trace.source == "<stdin>"
    assert not stdin.buffer.closed  # standard input is left open


@pytest.mark.parametrize("packed", [False, True])
def test_a_fifo_is_read_once(tmp_path, packed):
    """A named pipe can be read only once: gzip is sniffed on the stream itself."""
    import os
    import threading

    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    data = (HEADER + JOBS).encode()
    data = gzip.compress(data) if packed else data

    def writer():
        with open(fifo, "wb") as f:
            f.write(data)

    thread = threading.Thread(target=writer)
    thread.start()
    trace = read_swf(fifo)
    thread.join()
    assert _jobs(trace) == [(1435, 0), (1436, 3600)]
    assert trace.header.max_procs == 9216


def test_file_objects_binary_and_text(tmp_path):
    import io

    packed = io.BytesIO(gzip.compress((HEADER + JOBS).encode()))
    assert _jobs(read_swf(packed, name="mem.swf.gz")) == [(1435, 0), (1436, 3600)]
    plain = tmp_path / "t.swf"
    plain.write_text(HEADER + JOBS)
    with open(plain) as text:
        trace = read_swf(text)
        assert not text.closed
    assert trace.source == str(plain)
    with pytest.raises(TypeError, match="path, '-' or a file object"):
        read_swf(42)


def test_trace_iterates_over_its_jobs():
    trace = parse_swf((HEADER + JOBS).splitlines(keepends=True))
    assert len(trace) == 2
    assert [j.job_number for j in trace] == [1435, 1436]


def test_corrupt_gzip_on_a_stream_is_an_oserror():
    import io

    with pytest.raises(OSError, match="mem: corrupt gzip data"):
        read_swf(io.BytesIO(gzip.compress((HEADER + JOBS).encode())[:40]), name="mem")
