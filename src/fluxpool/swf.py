"""Standard Workload Format (SWF) traces: reading them and turning jobs into jobspecs.

SWF (Parallel Workloads Archive, v2.2) is a text format: header comments
``; Key: value`` (a comment line without a key continues the previous key's
value), then one job per line with 18 whitespace-separated numbers, ``-1``
meaning "unknown". The fields the simulator uses are 1 (job number), 2 (submit
time), 4 (run time), 5 (allocated processors), 8 (requested processors) and
9 (requested time); times are seconds.

The reader is strict about the job lines, because a silently misread line
would change every number a simulation prints: a line without exactly 18
numeric fields raises ``SwfFormatError`` naming the file and the line number.
Files may be plain text or gzip-compressed (detected by content, not name);
a trace is read once, as a stream, so it may come from a pipe or standard input.
"""

import gzip
import io
import os
import sys
import re
import zlib
from dataclasses import dataclass, field
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

__all__ = [
    "SWF_FIELDS",
    "SwfFormatError",
    "SwfHeader",
    "SwfJob",
    "SwfTrace",
    "parse_swf",
    "read_swf",
    "open_swf",
    "job_processors",
    "skip_reason",
    "make_jobspec",
    "job_jobspec",
]

#: The 18 SWF fields, in order (1-based in the SWF documentation).
SWF_FIELDS: Tuple[str, ...] = (
    "job_number",
    "submit_time",
    "wait_time",
    "run_time",
    "allocated_processors",
    "average_cpu_time",
    "used_memory",
    "requested_processors",
    "requested_time",
    "requested_memory",
    "status",
    "user_id",
    "group_id",
    "executable",
    "queue",
    "partition",
    "preceding_job",
    "think_time",
)

_GZIP_MAGIC = b"\x1f\x8b"
_HEADER_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


class SwfFormatError(ValueError):
    """A trace line that is not valid SWF; ``source`` and ``lineno`` say where."""

    def __init__(self, source: str, lineno: int, message: str) -> None:
        super().__init__(f"{source}, line {lineno}: {message}")
        self.source = source
        self.lineno = lineno


@dataclass(frozen=True)
class SwfJob:
    """One SWF job line. Times are seconds; ``-1`` means unknown, as in SWF.

    Only the fields a simulation needs have names; ``fields`` keeps all 18
    values of the line as parsed (ints, or floats where the trace wrote a
    fraction) and ``lineno`` its line number in the file.
    """

    job_number: int
    submit_time: float
    run_time: float
    allocated_processors: int
    requested_processors: int
    requested_time: float
    lineno: int
    fields: Tuple[Union[int, float], ...] = field(repr=False, compare=False)


@dataclass
class SwfHeader:
    """The header comments of a trace.

    ``fields`` maps each ``Key`` to its value text; a key written more than
    once (``Note``, ``Partition``) keeps every value, joined by newlines, and a
    keyless comment line continues the previous key. ``lines`` holds the
    comment lines verbatim (without the line ending), so a slice of a trace can
    be written back with its header and acknowledgement intact.
    """

    fields: Dict[str, str] = field(default_factory=dict)
    lines: List[str] = field(default_factory=list)

    def get_int(self, key: str) -> Optional[int]:
        """The header value ``key`` as a positive int, or None when absent,
        not a number, or not positive (the archive writes -1 for unknown)."""
        text = self.fields.get(key)
        if text is None:
            return None
        try:
            value = int(text.split()[0]) if text.split() else None
        except ValueError:
            return None
        return value if value is not None and value > 0 else None

    @property
    def max_nodes(self) -> Optional[int]:
        """``MaxNodes``: the machine's node count, when the header gives it."""
        return self.get_int("MaxNodes")

    @property
    def max_procs(self) -> Optional[int]:
        """``MaxProcs``: the machine's processor count, when the header gives it."""
        return self.get_int("MaxProcs")


@dataclass
class SwfTrace:
    """A parsed trace: its header and its jobs in file order.

    Iterating a trace (or ``len()``) goes over its jobs, so a trace can be
    passed wherever jobs are expected (``simulate(read_swf(path), R)``).
    """

    header: SwfHeader
    jobs: List[SwfJob]
    source: str = "<string>"

    def __iter__(self) -> Iterator[SwfJob]:
        return iter(self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)


def _number(text: str) -> Union[int, float]:
    try:
        return int(text)
    except ValueError:
        value = float(text)  # ValueError for text that is not a number at all
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(text) from None
        return int(value) if value.is_integer() else value


def _integral(value: Union[int, float], name: str, source: str, lineno: int) -> int:
    if isinstance(value, float):
        raise SwfFormatError(source, lineno, f"{name} must be an integer, got {value!r}")
    return value


def _parse_header_line(header: SwfHeader, line: str, last_key: Optional[str]) -> Optional[str]:
    header.lines.append(line)
    body = line[1:].strip()
    key, sep, value = body.partition(":")
    # "Key: value", where Key is a bare word; "http://..." is a continuation.
    if sep and _HEADER_KEY.match(key) and not value.startswith("//"):
        value = value.strip()
        if key in header.fields and header.fields[key]:
            header.fields[key] += "\n" + value
        else:
            header.fields[key] = value
        return key
    if last_key is not None and body:
        header.fields[last_key] += "\n" + body
    return last_key


def parse_swf(lines: Iterable[str], source: str = "<string>") -> SwfTrace:
    """Parse SWF text given as lines; ``source`` names it in error messages.

    Comment lines (starting with ``;``) anywhere in the file go to the header;
    blank lines are ignored. Raises ``SwfFormatError`` for a job line that does
    not have exactly 18 numeric fields, or whose job number or processor
    counts are not integers.
    """
    header = SwfHeader()
    jobs: List[SwfJob] = []
    last_key: Optional[str] = None
    for lineno, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(";"):
            last_key = _parse_header_line(header, stripped, last_key)
            continue
        parts = stripped.split()
        if len(parts) != len(SWF_FIELDS):
            raise SwfFormatError(
                source, lineno, f"expected {len(SWF_FIELDS)} fields, found {len(parts)}"
            )
        try:
            values = tuple(_number(p) for p in parts)
        except ValueError:
            bad = next(i for i, p in enumerate(parts) if not _is_number(p))
            raise SwfFormatError(
                source, lineno, f"field {bad + 1} ({SWF_FIELDS[bad]}) is not a number: {parts[bad]!r}"
            ) from None
        jobs.append(
            SwfJob(
                job_number=_integral(values[0], "job number (field 1)", source, lineno),
                submit_time=values[1],
                run_time=values[3],
                allocated_processors=_integral(values[4], "allocated processors (field 5)", source, lineno),
                requested_processors=_integral(values[7], "requested processors (field 8)", source, lineno),
                requested_time=values[8],
                lineno=lineno,
                fields=values,
            )
        )
    return SwfTrace(header=header, jobs=jobs, source=source)


def _is_number(text: str) -> bool:
    try:
        _number(text)
    except ValueError:
        return False
    return True


def _binary_stream(source: Union[str, "os.PathLike[str]", IO[bytes], IO[str]]) -> Tuple[IO[bytes], bool]:
    """A binary stream for ``source`` and whether the caller must close it.

    ``"-"`` is standard input; a path is opened once; a binary file object is
    used as given; a text file object is read through its ``buffer``.
    """
    if isinstance(source, (str, os.PathLike)):
        if os.fspath(source) == "-":
            return sys.stdin.buffer, False
        return open(source, "rb"), True
    buffer = getattr(source, "buffer", None)
    if buffer is not None and hasattr(source, "encoding"):  # a text file (sys.stdin, open(path))
        return buffer, False
    if hasattr(source, "read"):
        return source, False  # type: ignore[return-value]
    raise TypeError(f"an SWF trace is read from a path, '-' or a file object, not {type(source).__name__}")


def _text_stream(raw: IO[bytes]) -> Tuple[io.TextIOWrapper, Optional[io.BufferedReader]]:
    """Text over ``raw``, gunzipped when its first two bytes are the gzip magic,
    and the buffer this function put around ``raw`` to peek at them (None
    when ``raw`` could peek itself)."""
    wrapper = None if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    peekable: Any = raw if wrapper is None else wrapper
    magic = peekable.peek(len(_GZIP_MAGIC))[: len(_GZIP_MAGIC)]
    binary = gzip.GzipFile(fileobj=peekable, mode="rb") if magic == _GZIP_MAGIC else peekable
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace"), wrapper


def open_swf(path: Union[str, "os.PathLike[str]"]) -> IO[str]:
    """Open a trace file for reading as text, gunzipping it when it is gzip data.

    The file is opened once and read as a stream: gzip is detected from the
    first two bytes of the stream itself, never by reopening the file, so a
    FIFO, ``/dev/stdin`` or a process substitution (``<(zcat t.swf.gz)``)
    works. Undecodable bytes (some archive headers are Latin-1) are replaced
    rather than fatal: only the ASCII job lines matter. Closing the returned
    stream closes the file. Raises ``OSError`` when the file cannot be opened.
    """
    return _text_stream(open(path, "rb"))[0]


def read_swf(
    source: Union[str, "os.PathLike[str]", IO[bytes], IO[str]], name: Optional[str] = None
) -> SwfTrace:
    """Read and parse an SWF trace (plain or gzipped) from a path, ``"-"`` or a file object.

    The input is read once, as a stream (see ``open_swf``), so a pipe or
    ``/dev/stdin`` works. ``name`` is what error messages and
    ``SwfTrace.source`` call it (default: the path, ``"<stdin>"`` for ``"-"``,
    or the file object's ``name``). Raises ``OSError`` when the input cannot be
    read (including a corrupt or truncated gzip stream), ``SwfFormatError`` (a
    ``ValueError``) for a malformed job line, and ``TypeError`` for a source
    that is neither a path nor a file object.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if name is None:
            name = "<stdin>" if path == "-" else path
        raw: Any = sys.stdin.buffer if path == "-" else open(path, "rb")
        owned = path != "-"
    elif hasattr(source, "read"):
        if name is None:
            name = str(getattr(source, "name", "<stream>"))
        raw = getattr(source, "buffer", source)  # a text file is read through its bytes
        owned = False
    else:
        raise TypeError(f"an SWF trace is read from a path, '-' or a file object, not {type(source).__name__}")
    try:
        text, wrapper = _text_stream(raw)
        try:
            return parse_swf(text, source=name)
        finally:
            if not owned:  # leave the caller's stream (stdin) open
                text.detach()
                if wrapper is not None:
                    wrapper.detach()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # truncated or corrupt gzip data
        raise OSError(f"{name}: corrupt gzip data: {exc}") from exc
    finally:
        if owned:
            raw.close()


# -- job mapping ---------------------------------------------------------------


def job_processors(job: SwfJob) -> int:
    """The processors a job uses: field 5 (allocated), or field 8 (requested)
    where field 5 is not positive. Zero or negative means unknown."""
    if job.allocated_processors > 0:
        return job.allocated_processors
    return job.requested_processors


def job_duration(job: SwfJob) -> float:
    """The job's requested time (field 9), or its run time where field 9 is
    missing (-1): what the scheduler believes the job will take."""
    return job.requested_time if job.requested_time >= 0 else job.run_time


def skip_reason(job: SwfJob) -> Optional[str]:
    """Why a job cannot be simulated at all, or None when it can.

    ``"no-processors"`` when neither field 5 nor field 8 is positive;
    ``"negative-runtime"`` when the run time is unknown (-1) or negative.
    Jobs wider than the cluster are found later, by the pool's feasibility check.
    """
    return _skip_reason(job, job_processors(job))


def _skip_reason(job: SwfJob, processors: int) -> Optional[str]:
    """``skip_reason`` for a job whose ``job_processors`` is known."""
    if processors <= 0:
        return "no-processors"
    if job.run_time < 0:
        return "negative-runtime"
    return None


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def make_jobspec(
    processors: int,
    duration: float,
    cores_per_node: int = 1,
    node_exclusive: bool = False,
    cores_per_task: int = 1,
    tasks_per_node: Optional[int] = None,
) -> Dict[str, Any]:
    """A version 1 jobspec (as a dict) for a job of ``processors`` lasting ``duration`` s.

    The job runs ceil(processors / cores_per_task) tasks of ``cores_per_task``
    cores (one ``slot`` per task):

    - by default the slots go anywhere (``slot[tasks] -> core[K]``);
    - with ``node_exclusive`` and ``tasks_per_node`` T, the job asks for
      ceil(tasks / T) whole nodes, each holding T slots
      (``node[N, exclusive] -> slot[T] -> core[K]``, like ``flux run -N -n
      --exclusive``);
    - with ``node_exclusive`` alone, a job whose processors are a multiple of
      ``cores_per_node`` asks for that many whole nodes, one slot of
      ``cores_per_node`` cores each; any other job gets slots as by default.

    Raises ``ValueError`` when ``processors`` or a shape argument is below 1
    (``TypeError`` when one is not an int), or ``tasks_per_node`` is given
    without ``node_exclusive``.
    """
    if processors < 1:
        raise ValueError(f"processors must be positive, got {processors}")
    _positive("cores_per_task", cores_per_task)
    _positive("cores_per_node", cores_per_node)
    if tasks_per_node is not None:
        _positive("tasks_per_node", tasks_per_node)
        if not node_exclusive:
            raise ValueError("tasks_per_node splits whole nodes: it needs node_exclusive")
    tasks = -(-processors // cores_per_task)
    if node_exclusive and tasks_per_node is not None:
        resources = [
            {
                "type": "node",
                "count": -(-tasks // tasks_per_node),
                "exclusive": True,
                "with": [
                    {
                        "type": "slot",
                        "count": tasks_per_node,
                        "label": "task",
                        "with": [{"type": "core", "count": cores_per_task}],
                    }
                ],
            }
        ]
    elif node_exclusive and processors % cores_per_node == 0:
        resources = [
            {
                "type": "node",
                "count": processors // cores_per_node,
                "exclusive": True,
                "with": [
                    {
                        "type": "slot",
                        "count": 1,
                        "label": "task",
                        "with": [{"type": "core", "count": cores_per_node}],
                    }
                ],
            }
        ]
    else:
        resources = [
            {"type": "slot", "count": tasks, "label": "task", "with": [{"type": "core", "count": cores_per_task}]}
        ]
    return {
        "version": 1,
        "resources": resources,
        "tasks": [{"command": ["swf-job"], "slot": "task", "count": {"per_slot": 1}}],
        "attributes": {"system": {"duration": float(duration)}},
    }


def job_jobspec(job: SwfJob, cores_per_node: int = 1, node_exclusive: bool = False,
                cores_per_task: int = 1, tasks_per_node: Optional[int] = None) -> Optional[Dict[str, Any]]:
    """The jobspec for an SWF job (see ``make_jobspec``), or None when the job
    must be skipped (``skip_reason`` is not None)."""
    if skip_reason(job) is not None:
        return None
    return make_jobspec(job_processors(job), job_duration(job), cores_per_node, node_exclusive,
                        cores_per_task, tasks_per_node)
