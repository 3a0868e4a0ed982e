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
Files may be plain text or gzip-compressed (detected by content, not name).
"""

import gzip
import os
import re
import zlib
from dataclasses import dataclass, field
from typing import IO, Any, Dict, Iterable, List, Optional, Tuple, Union

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
    """A parsed trace: its header and its jobs in file order."""

    header: SwfHeader
    jobs: List[SwfJob]
    source: str = "<string>"


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


def open_swf(path: Union[str, "os.PathLike[str]"]) -> IO[str]:
    """Open a trace for reading as text, gunzipping it when it is gzip data.

    Undecodable bytes (some archive headers are Latin-1) are replaced rather
    than fatal: only the ASCII job lines matter.
    """
    with open(path, "rb") as raw:
        magic = raw.read(len(_GZIP_MAGIC))
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def read_swf(path: Union[str, "os.PathLike[str]"]) -> SwfTrace:
    """Read and parse an SWF file (plain or gzipped).

    Raises ``OSError`` when the file cannot be read (including a corrupt gzip
    stream) and ``SwfFormatError`` for a malformed job line.
    """
    source = os.fspath(path)
    try:
        with open_swf(path) as stream:
            return parse_swf(stream, source=source)
    except (EOFError, zlib.error) as exc:  # truncated or corrupt gzip data
        raise OSError(f"{source}: corrupt gzip data: {exc}") from exc


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
    if job_processors(job) <= 0:
        return "no-processors"
    if job.run_time < 0:
        return "negative-runtime"
    return None


def make_jobspec(
    processors: int, duration: float, cores_per_node: int = 1, node_exclusive: bool = False
) -> Dict[str, Any]:
    """A version 1 jobspec (as a dict) for ``processors`` cores lasting ``duration`` s.

    With ``node_exclusive`` and ``processors`` a multiple of ``cores_per_node``,
    the job asks for ``processors // cores_per_node`` whole nodes (an exclusive
    ``node`` vertex holding one slot of ``cores_per_node`` cores); otherwise it
    asks for ``processors`` slots of one core each, placed anywhere.
    """
    if processors < 1:
        raise ValueError(f"processors must be positive, got {processors}")
    if node_exclusive and cores_per_node > 0 and processors % cores_per_node == 0:
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
            {"type": "slot", "count": processors, "label": "task", "with": [{"type": "core", "count": 1}]}
        ]
    return {
        "version": 1,
        "resources": resources,
        "tasks": [{"command": ["swf-job"], "slot": "task", "count": {"per_slot": 1}}],
        "attributes": {"system": {"duration": float(duration)}},
    }


def job_jobspec(job: SwfJob, cores_per_node: int = 1, node_exclusive: bool = False) -> Optional[Dict[str, Any]]:
    """The jobspec for an SWF job (see ``make_jobspec``), or None when the job
    must be skipped (``skip_reason`` is not None)."""
    if skip_reason(job) is not None:
        return None
    return make_jobspec(job_processors(job), job_duration(job), cores_per_node, node_exclusive)
