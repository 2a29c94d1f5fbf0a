"""Prometheus metrics, under the names the daemon a configuration comes from exports them.

On a CRI-O configuration: CRI-O's `crio_*` families, each also under CRI-O's newer
`container_runtime_crio_*` name (operations, their latency and errors, image pulls, OOM
kills), filtered by `metrics_collectors`. On a containerd one: containerd's CRI timers
(`containerd_cri_*_seconds`), image pull counters (`containerd_cri_sandboxed_*`) and its gRPC
server counters (`grpc_server_*`). Both get the process metrics (`process_*`).

Cost per RPC is a few additions: the counts are plain numbers kept by the one event loop
that serves RPCs, and become metric families only when a scrape asks (`collect`).
The `@rpc` wrapper reports to the instance `install` made active; without one (no endpoint
configured) it reports nothing.
"""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    SummaryMetricFamily,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

Flavour = Literal["crio", "containerd"]
_Counter = tuple[str, list[str], list[tuple[list[str], float]]]

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""client_golang's DefBuckets, which containerd's timers use."""
MIBPS_BUCKETS = (0.1, 1, 10, 25, 75, 150, 300, 500, 1000, 2000, 4000)
"""containerd's image_pulling_throughput_mibps buckets."""
_KIB, _MIB, _GIB = 1024, 1024**2, 1024**3
SIZE_BUCKETS = (
    _KIB, _MIB, 10 * _MIB, 50 * _MIB, 100 * _MIB, 200 * _MIB,
    300 * _MIB, 400 * _MIB, 500 * _MIB, _GIB, 10 * _GIB,
)  # fmt: skip
"""CRI-O's layer size buckets (the `size` label of crio_image_pulls_*bytes_total)."""

CRIO_PREFIXES = ("crio_", "container_runtime_crio_")
CRIO_COLLECTORS = frozenset(
    {
        "operations_total",
        "operations_latency_seconds_total",
        "operations_latency_seconds",
        "operations_errors_total",
        "image_pulls_bytes_total",
        "image_pulls_skipped_bytes_total",
        "image_pulls_success_total",
        "image_pulls_failure_total",
        "image_pulls_layer_size",
        "containers_oom_total",
        "containers_oom_count_total",
    }
)
"""The CRI-O collectors served here (names as `metrics_collectors` spells them)."""

CONTAINERD_TIMERS = {
    "RunPodSandbox": "sandbox_runtime_create",
    "StopPodSandbox": "sandbox_runtime_stop",
    "RemovePodSandbox": "sandbox_remove",
    "ListPodSandbox": "sandbox_list",
    "CreateContainer": "container_create",
    "StartContainer": "container_start",
    "StopContainer": "container_stop",
    "RemoveContainer": "container_remove",
    "ListContainers": "container_list",
}
"""containerd's CRI timer of each RPC (recorded on success, as containerd does)."""
_UNLABELED_TIMERS = frozenset({"sandbox_list", "container_list"})
IMAGE_RPCS = frozenset({"PullImage", "ListImages", "ImageStatus", "RemoveImage", "ImageFsInfo"})


@dataclass
class Histogram:
    """Observations counted in buckets (upper bounds, `+Inf` implied)."""

    bounds: Sequence[float]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        """client_golang's bucket series: `le` bound → observations at or below it."""
        running = 0
        series: list[tuple[str, float]] = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            series.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        return series


@dataclass
class Operation:
    """What one RPC has done so far."""

    count: int = 0
    errors: int = 0
    seconds: float = 0.0
    last_s: float = 0.0
    codes: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass(frozen=True)
class PullOutcome:
    """One image pull that ran (not one that joined a pull in flight)."""

    name: str
    elapsed_s: float
    error: str = ""  # the failure's kind; "" for a success
    fetched: tuple[tuple[str, int], ...] = ()  # (media type, bytes) of each layer fetched
    skipped: tuple[int, ...] = ()  # sizes of the layers already here


class Metrics(Collector):
    """The counts behind the endpoint, and their families in the daemon's names."""

    def __init__(
        self,
        flavour: Flavour,
        *,
        collectors: Iterable[str] = (),
        runtime_types: dict[str, str] | None = None,
        default_runtime: str = "",
    ) -> None:
        self.flavour = flavour
        self.enabled = _enabled(collectors) if flavour == "crio" else CRIO_COLLECTORS
        self.runtime_types = runtime_types or {}
        self.default_runtime = default_runtime
        self.operations: dict[str, Operation] = defaultdict(Operation)
        self.timers: dict[tuple[str, str], Histogram] = {}
        self.pulls: dict[tuple[str, str], int] = defaultdict(int)  # (name, error) → count
        self.pull_bytes: dict[tuple[str, str], int] = defaultdict(int)  # (type, size) → bytes
        self.skipped_bytes: dict[str, int] = defaultdict(int)
        self.layer_sizes = Histogram(SIZE_BUCKETS)
        self.pulls_in_progress = 0
        self.throughput = Histogram(DEFAULT_BUCKETS)
        self.throughput_mibps = Histogram(MIBPS_BUCKETS)
        self.ooms: dict[str, int] = defaultdict(int)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        ProcessCollector(registry=self.registry)

    # -- recording (on the event loop) ----------------------------------------------------------
    def rpc_finished(self, name: str, elapsed_s: float, code: str, handler: str = "") -> None:
        """One RPC answered with status `code` ("OK" for a success)."""
        operation = self.operations[name]
        operation.count += 1
        operation.seconds += elapsed_s
        operation.last_s = elapsed_s
        operation.codes[code] += 1
        if code != "OK":
            operation.errors += 1
        elif self.flavour == "containerd" and name in CONTAINERD_TIMERS:
            self._time(CONTAINERD_TIMERS[name], handler, elapsed_s)

    def _time(self, timer: str, handler: str, elapsed_s: float) -> None:
        runtime = ""
        if timer not in _UNLABELED_TIMERS:
            runtime = self.runtime_types.get(handler or self.default_runtime, handler)
        key = (timer, runtime)
        histogram = self.timers.get(key)
        if histogram is None:
            histogram = self.timers[key] = Histogram(DEFAULT_BUCKETS)
        histogram.observe(elapsed_s)

    def pull_started(self) -> None:
        self.pulls_in_progress += 1

    def pull_finished(self, outcome: PullOutcome) -> None:
        """A pull that ran ended: count it, its bytes and its throughput."""
        self.pulls_in_progress -= 1
        self.pulls[(outcome.name, outcome.error)] += 1
        fetched = 0
        for media_type, size in outcome.fetched:
            self.pull_bytes[(media_type, size_bucket(size))] += size
            self.layer_sizes.observe(size)
            fetched += size
        for size in outcome.skipped:
            self.skipped_bytes[size_bucket(size)] += size
        if not outcome.error and fetched and outcome.elapsed_s > 0:
            mibps = fetched / _MIB / outcome.elapsed_s
            self.throughput.observe(mibps)
            self.throughput_mibps.observe(mibps)

    def container_oom(self, name: str) -> None:
        """A container was OOM-killed."""
        self.ooms[name] += 1

    # -- scraping -------------------------------------------------------------------------------
    def render(self) -> bytes:
        """The text exposition of every family (call it off the event loop)."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        if self.flavour == "crio":
            for family in self._crio_families():
                for prefix in CRIO_PREFIXES:
                    yield _renamed(family, prefix)
        else:
            yield from self._containerd_families()

    def _crio_families(self) -> Iterator[Metric]:
        operations = list(self.operations.items())
        wanted = self.enabled
        for name, (text, labels, rows) in self._crio_counters(operations).items():
            if name in wanted:
                counter = CounterMetricFamily(name, text, labels=labels)
                for values, value in rows:
                    counter.add_metric(values, value)
                yield counter
        if "operations_latency_seconds_total" in wanted:
            latency = SummaryMetricFamily(
                "operations_latency_seconds_total",
                "Latency in seconds of operations",
                labels=["operation"],
            )
            for name, op in operations:
                latency.add_metric([name], op.count, op.seconds)
            yield latency
        if "operations_latency_seconds" in wanted:
            yield _gauge(
                "operations_latency_seconds",
                "Latency in seconds of the latest call of each operation",
                [([name], op.last_s) for name, op in operations],
            )
        if "image_pulls_layer_size" in wanted:
            sizes = HistogramMetricFamily("image_pulls_layer_size", "Bytes of fetched layers")
            sizes.add_metric([], self.layer_sizes.cumulative(), self.layer_sizes.total)
            yield sizes

    def _crio_counters(self, operations: list[tuple[str, Operation]]) -> dict[str, _Counter]:
        """CRI-O's counters: name → (help, label names, (label values, value) rows)."""
        pulls = list(self.pulls.items())
        ooms = list(self.ooms.items())
        return {
            "operations_total": (
                "Cumulative number of operations",
                ["operation"],
                [([name], op.count) for name, op in operations],
            ),
            "operations_errors_total": (
                "Cumulative number of failed operations",
                ["operation"],
                [([name], op.errors) for name, op in operations if op.errors],
            ),
            "image_pulls_success_total": (
                "Successful image pulls",
                ["name"],
                [([name], count) for (name, error), count in pulls if not error],
            ),
            "image_pulls_failure_total": (
                "Failed image pulls",
                ["name", "error"],
                [([name, error], count) for (name, error), count in pulls if error],
            ),
            "image_pulls_bytes_total": (
                "Bytes fetched by image pulls",
                ["mediatype", "size"],
                [([kind, size], count) for (kind, size), count in list(self.pull_bytes.items())],
            ),
            "image_pulls_skipped_bytes_total": (
                "Bytes of layers a pull found here",
                ["size"],
                [([size], count) for size, count in list(self.skipped_bytes.items())],
            ),
            "containers_oom_total": (
                "OOM-killed containers",
                [],
                [([], sum(count for _, count in ooms))],
            ),
            "containers_oom_count_total": (
                "OOM kills by container name",
                ["name"],
                [([name], count) for name, count in ooms],
            ),
        }

    def _containerd_families(self) -> Iterator[Metric]:
        yield from _grpc_families(list(self.operations.items()))
        for (timer, runtime), histogram in sorted(self.timers.items()):
            labels = [] if timer in _UNLABELED_TIMERS else ["runtime"]
            family = HistogramMetricFamily(
                f"containerd_cri_{timer}_seconds", f"time of {timer}", labels=labels
            )
            family.add_metric([runtime] if labels else [], histogram.cumulative(), histogram.total)
            yield family
        pulls = CounterMetricFamily(
            "containerd_cri_sandboxed_image_pulls", "succeeded and failed counters",
            labels=["status"],
        )  # fmt: skip
        counts = list(self.pulls.items())
        pulls.add_metric(["success"], sum(n for (_, error), n in counts if not error))
        pulls.add_metric(["failure"], sum(n for (_, error), n in counts if error))
        yield pulls
        yield GaugeMetricFamily(
            "containerd_cri_sandboxed_in_progress_image_pulls_total",
            "in progress pulls",
            value=self.pulls_in_progress,
        )
        for name, histogram in (
            ("image_pulling_throughput", self.throughput),
            ("image_pulling_throughput_mibps", self.throughput_mibps),
        ):
            family = HistogramMetricFamily(
                f"containerd_cri_sandboxed_{name}", "image pull throughput in MiB/s"
            )
            family.add_metric([], histogram.cumulative(), histogram.total)
            yield family


def _gauge(name: str, text: str, rows: list[tuple[list[str], float]]) -> Metric:
    """A gauge family labelled by operation."""
    gauge = GaugeMetricFamily(name, text, labels=["operation"])
    for values, value in rows:
        gauge.add_metric(values, value)
    return gauge


def _grpc_families(operations: list[tuple[str, Operation]]) -> Iterator[Metric]:
    """go-grpc-prometheus's server counters, which containerd registers (unary RPCs only)."""
    keys = ["grpc_method", "grpc_service", "grpc_type"]
    started = CounterMetricFamily("grpc_server_started_total", "RPCs started", labels=keys)
    handled = CounterMetricFamily(
        "grpc_server_handled_total", "RPCs completed", labels=["grpc_code", *keys]
    )
    for name, op in operations:
        labels = [name, _service(name), "unary"]
        started.add_metric(labels, op.count)
        for code, count in list(op.codes.items()):
            handled.add_metric([_grpc_code_name(code), *labels], count)
    yield started
    yield handled


def _service(name: str) -> str:
    kind = "ImageService" if name in IMAGE_RPCS else "RuntimeService"
    return f"runtime.v1.{kind}"


def _grpc_code_name(code: str) -> str:
    """grpc-go's spelling of a status code (`NOT_FOUND` → `NotFound`; `OK` stays)."""
    if code == "OK":
        return code
    return "".join(part.capitalize() for part in code.split("_"))


def size_bucket(size: int) -> str:
    """CRI-O's `size` label: the smallest bucket that holds `size` bytes."""
    index = bisect.bisect_left(SIZE_BUCKETS, size)
    return str(SIZE_BUCKETS[index]) if index < len(SIZE_BUCKETS) else "+Inf"


def _renamed(family: Metric, prefix: str) -> Metric:
    """`family` under `prefix` (its samples renamed with it)."""
    renamed = Metric(prefix + family.name, family.documentation, family.type, family.unit)
    renamed.samples = [sample._replace(name=prefix + sample.name) for sample in family.samples]
    return renamed


def _enabled(collectors: Iterable[str]) -> frozenset[str]:
    """CRI-O's `metrics_collectors`: names with or without a prefix; none means all."""
    wanted = set()
    for name in collectors:
        for prefix in CRIO_PREFIXES:
            name = name.removeprefix(prefix)
        wanted.add(name)
    unknown = sorted(wanted - CRIO_COLLECTORS)
    if unknown:
        logger.warning(
            "metrics_collectors names collectors crio-py does not serve: %s", ", ".join(unknown)
        )
    return frozenset(wanted & CRIO_COLLECTORS) if wanted else CRIO_COLLECTORS


ACTIVE: Metrics | None = None
"""The instance RPCs and pulls report to (None: no metrics endpoint)."""


def install(metrics: Metrics | None) -> None:
    """Make `metrics` the one RPCs and pulls report to (None: stop reporting)."""
    global ACTIVE
    ACTIVE = metrics
