"""The metric descriptors: static, each with help and label keys, and samples that carry one
label value per key (the kubelet drops a sample whose count differs)."""

from __future__ import annotations

from cri_api.v1 import api_pb2

from crio_py.cri import pod_metrics as metrics


async def test_descriptors_name_help_and_labels() -> None:
    response = await metrics.list_metric_descriptors(api_pb2.ListMetricDescriptorsRequest())
    names = [d.name for d in response.descriptors]
    assert len(names) == len(set(names)) == len(metrics.DESCRIPTORS)
    for descriptor in response.descriptors:
        assert descriptor.help
        assert list(descriptor.label_keys[:5]) == ["pod", "namespace", "container", "id", "image"]
    # What the kubelet's cAdvisor dashboards read first.
    assert {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes"} <= set(names)


def test_a_sample_has_a_value_per_label_key() -> None:
    labels = ("web", "ns", "app", "c" * 64, "busybox", "eth0")
    metric = metrics._metric("container_network_receive_bytes_total", labels, 7)
    kind = metrics.DESCRIPTORS[metric.name]
    assert len(metric.label_values) == len(metrics.BASE_LABELS) + len(kind.extra_labels)
    assert metric.metric_type == api_pb2.COUNTER and metric.value.value == 7
    gauge = metrics._metric("container_memory_rss", labels[:5], 1)
    assert gauge.metric_type == api_pb2.GAUGE
