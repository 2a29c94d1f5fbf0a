"""containerd config.toml version 2 or 3 → CRI-O crio.conf or a crio.conf.d drop-in
(crossmap.md, right to left)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from crio_py.config.containerd.cri import (
    CriV2,
)
from crio_py.config.crio.models import (
    CrioConfig,
    builtin_handler,
)
from crio_py.config.lint.containerd import merge_imports
from crio_py.config.migrate.convert._common import (
    API,
    CNRI,
    EMPTY_IS_DEFAULT,
    HANDLERS,
    ICMP_SYSCTL,
    IMAGE,
    IMG,
    METRICS,
    MISSING,
    NET,
    NO_NOTES,
    NRI_PLUGIN,
    OTEL,
    PORTS_SYSCTL,
    RT,
    RUN,
    SAME,
    SNAPSHOTTER_TO_STORAGE,
    SRV,
    TRACING,
    ConvertContext,
    Key,
    Leaf,
    OutTree,
    carry_or_write,
    key_name,
    notes_for,
    report_rest,
    str_key,
)
from crio_py.config.migrate.convert.containerd_input import (
    ContainerdInput,
    Parts,
    cri_parts,
    validated_containerd,
)
from crio_py.config.migrate.convert.crio_only import restore_crio_only
from crio_py.config.migrate.convert.not_carried import (
    CONTAINERD_UNITS,
    containerd_reason,
    unmapped_plugin_units,
)
from crio_py.config.migrate.convert.to_crio_registry import registry_to_crio
from crio_py.config.migrate.convert.to_crio_runtimes import handlers_to_crio
from crio_py.config.migrate.report import MigrationResult
from crio_py.config.rules import newest
from crio_py.config.source import Source

_CRIO_SKELETON: tuple[Key, ...] = (
    ("crio",),
    API,
    RUN,
    HANDLERS,
    IMAGE,
    NET,
    METRICS,
    TRACING,
    CNRI,
)

def containerd_to_crio(
    sources: Sequence[Source], *, dropin: bool, force: bool = False
) -> MigrationResult:
    """Convert a containerd config (version 2 or 3, with its imports in load order) to crio.conf,
    or with `dropin` to a crio.conf.d drop-in holding only what differs from CRI-O's defaults.

    Raises ConfigReadError for config versions other than 2 and 3, and when the containerd
    configuration has lint errors.
    """
    config = validated_containerd(sources, force=force)
    result = MigrationResult(
        source_format="containerd", target="crio-dropin" if dropin else "crio", text=""
    )
    data = merge_imports([s.data for s in sources], newest("containerd"))
    ctx = ConvertContext(sources, data, result, OutTree(_CRIO_SKELETON))
    parts = cri_parts(config)
    ctx.consume(("version",))
    handlers_to_crio(ctx, config, parts)
    for step in (
        _server_to_crio,
        _images_to_crio,
        _cni_to_crio,
        _sysctls_to_crio,
        _metrics_to_crio,
        _nri_tracing_to_crio,
        registry_to_crio,
        _same_to_crio,
        _events_to_crio,
    ):
        step(ctx, config, parts)
    report_rest(ctx, CONTAINERD_UNITS + unmapped_plugin_units(data), containerd_reason)
    restore_crio_only(ctx)
    if dropin:
        _drop_crio_defaults(ctx)
    result.text = ctx.out.render(_crio_header(parts.version, dropin))
    return result


def _crio_header(version: int, dropin: bool) -> tuple[str, ...]:
    what = "CRI-O drop-in for crio.conf.d" if dropin else "CRI-O crio.conf"
    lines: tuple[str, ...] = (
        f"{what} converted from a containerd config (version {version}) by",
        "`crio-py config migrate`; settings without an equivalent are listed in its report.",
    )
    if dropin:
        lines += ("It holds only the settings that differ from CRI-O's defaults.",)
    return lines



def _server_to_crio(ctx: ConvertContext, config: ContainerdInput, parts: Parts) -> None:
    for key, target_key in (
        ("max_send_message_size", "grpc_max_send_msg_size"),
        ("max_recv_message_size", "grpc_max_recv_msg_size"),
    ):
        source, target = ("grpc", key), (*API, target_key)
        written = "not set: containerd's default is 16 MiB, CRI-O's 80 MiB"
        carry_or_write(ctx, source, target, getattr(config.grpc, key), written)
    _tls_to_crio(ctx, parts)


def _tls_to_crio(ctx: ConvertContext, parts: Parts) -> None:
    """containerd makes itself a certificate when none is given; CRI-O cannot."""
    server = parts.server
    source = parts.loc((*SRV, "enable_tls_streaming"))
    pair = server.x509_key_pair_streaming
    if server.enable_tls_streaming and not (pair.tls_cert_file and pair.tls_key_file):
        ctx.skip(
            source,
            "containerd serves TLS streams with a self-signed certificate when none is "
            "given; CRI-O needs stream_tls_cert and stream_tls_key, so TLS stays off",
        )


def _images_to_crio(ctx: ConvertContext, config: ContainerdInput, parts: Parts) -> None:
    images = parts.images
    source = parts.loc((*IMG, "pinned_images", "sandbox"))
    if isinstance(images, CriV2):
        sandbox = images.sandbox_image
    else:
        sandbox = images.pinned_images.get("sandbox", "registry.k8s.io/pause:3.10")
    qualified = _qualified(sandbox)
    target = (*IMAGE, "pause_image")
    if not ctx.is_set(source):
        reason = f"not set: containerd's default sandbox image is {sandbox}, CRI-O's differs"
        ctx.write(source, target, qualified, reason)
    elif qualified != sandbox:
        ctx.convert(source, {target: qualified}, "CRI-O needs the registry host in the name")
    else:
        ctx.carry("moved", source, target, sandbox)
    timeout = images.image_pull_progress_timeout
    source = parts.loc((*IMG, "image_pull_progress_timeout"))
    if timeout:
        written = "not set: containerd's default is 5m0s, CRI-O's 0s (no timeout)"
        carry_or_write(ctx, source, (*IMAGE, "pull_progress_timeout"), timeout, written)
    _volumes_storage_to_crio(ctx, parts)


def _qualified(image: str) -> str:
    """An image reference with its registry host, as CRI-O wants it (docker.io/library/…)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"docker.io/{image}" if slash else f"docker.io/library/{image}"


def _volumes_storage_to_crio(ctx: ConvertContext, parts: Parts) -> None:
    source = parts.loc((*RT, "ignore_image_defined_volumes"))
    if ctx.is_set(source):
        value = "ignore" if parts.runtime.ignore_image_defined_volumes else "mkdir"
        ctx.convert(source, {(*IMAGE, "image_volumes"): value}, f"image_volumes = {value}")
    source = parts.loc((*IMG, "snapshotter"))
    if not ctx.is_set(source):
        return
    snapshotter = ctx.raw(source)
    driver = SNAPSHOTTER_TO_STORAGE.get(snapshotter)
    if driver is None:
        reason = f'CRI-O\'s containers/storage has no driver for the "{snapshotter}" snapshotter'
        ctx.skip(source, reason)
    else:
        reason = f"snapshotter {snapshotter} → storage driver {driver}"
        ctx.convert(source, {("crio", "storage_driver"): driver}, reason)


def _cni_to_crio(ctx: ConvertContext, config: ContainerdInput, parts: Parts) -> None:
    cni_path = parts.loc((*RT, "cni"))
    cni = parts.runtime.cni
    dirs_key, dir_key = (*cni_path, "bin_dirs"), (*cni_path, "bin_dir")
    if parts.version == 3 and ctx.is_set(dirs_key):
        source, dirs = dirs_key, list(cni.bin_dirs)
        if ctx.is_set(dir_key):
            ctx.skip(dir_key, "bin_dirs wins over bin_dir")
    elif ctx.is_set(dir_key) and cni.bin_dir:
        source, dirs = dir_key, [cni.bin_dir]
    else:
        return
    ctx.carry("moved" if source == dirs_key else "converted", source, (*NET, "plugin_dirs"), dirs)


def _sysctls_to_crio(ctx: ConvertContext, config: ContainerdInput, parts: Parts) -> None:
    target = (*RUN, "default_sysctls")
    sysctls: list[str] = []
    first: Key | None = None
    for key, sysctl in (
        ("enable_unprivileged_ports", PORTS_SYSCTL),
        ("enable_unprivileged_icmp", ICMP_SYSCTL),
    ):
        source = parts.loc((*RT, key))
        enabled = bool(getattr(parts.runtime, key))
        if enabled:
            sysctls.append(sysctl)
        if ctx.is_set(source):
            first = first or source
            ctx.record("converted", source, key_name(target), f"{key} = {str(enabled).lower()}")
        elif enabled:
            reason = f"not set: containerd 2.x enables it by default; CRI-O needs {sysctl}"
            ctx.result.add("written", key_name(source), key_name(target), reason)
    if sysctls:
        ctx.out.put(target, sysctls, notes_for(ctx.sources, first) if first else NO_NOTES)


def _metrics_to_crio(ctx: ConvertContext, config: ContainerdInput, parts: Parts) -> None:
    source: Key = ("metrics", "address")
    address = config.metrics.address
    if not ctx.is_set(source):
        return
    if not address:
        ctx.convert(source, {(*METRICS, "enable_metrics"): False}, "empty: metrics are off")
        return
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit():
        ctx.skip(source, f'"{address}" is not host:port')
        return
    targets = {
        (*METRICS, "enable_metrics"): True,
        (*METRICS, "metrics_host"): host.strip("[]"),
        (*METRICS, "metrics_port"): int(port),
    }
    ctx.convert(source, targets, "host:port split into metrics_host and metrics_port")


def _nri_tracing_to_crio(ctx: ConvertContext, config: ContainerdInput, parts: Parts) -> None:
    source, target = (*NRI_PLUGIN, "disable"), (*CNRI, "enable_nri")
    if ctx.is_set(source):
        ctx.convert(source, {target: not ctx.raw(source)}, "the boolean is inverted")
    elif parts.version == 2:
        reason = "not set: containerd 1.7 leaves NRI off (1.6 has none), CRI-O turns it on"
        ctx.write(source, target, False, reason)
    source = (*OTEL, "sampling_ratio")
    if ctx.is_set(source):
        rate = round(float(ctx.raw(source)) * 1_000_000)
        target = (*TRACING, "tracing_sampling_rate_per_million")
        ctx.convert(source, {target: rate}, "the ratio times 1 000 000")


def _same_to_crio(ctx: ConvertContext, config: ContainerdInput, parts: Parts) -> None:
    for crio_key, containerd_key, _note in SAME:
        source = parts.loc(containerd_key)
        if ctx.is_used(source) or not ctx.is_set(source):
            continue
        value = ctx.raw(source)
        if value == "" and source[-1] in EMPTY_IS_DEFAULT:
            ctx.skip(source, "empty: both daemons use their built-in default")
        else:
            ctx.carry("moved", source, crio_key, value)


# The default handler changed between CRI-O releases (runc, then crun): a drop-in says which.
_KEEP_IN_DROPIN = {(*RUN, "default_runtime")}


def _events_to_crio(ctx: ConvertContext, config: ContainerdInput, parts: Parts) -> None:
    """containerd always streams container events to the kubelet (evented PLEG); CRI-O only
    with enable_pod_events."""
    del config
    source = str_key(parts.view.containerd_path[:2])
    reason = "containerd always serves container events; CRI-O only when this is set"
    ctx.write(source, (*RUN, "enable_pod_events"), True, reason)


def _drop_crio_defaults(ctx: ConvertContext) -> None:
    """Leave out of a drop-in every setting that equals CRI-O's default."""
    defaults = CrioConfig()
    for path in list(ctx.out.leaves()):
        if path[:3] == HANDLERS or path in _KEEP_IN_DROPIN:
            continue
        default = _model_value(defaults, path)
        if default is not MISSING and _same(ctx.out.leaf(path), default):
            _mark_default(ctx, path)
            ctx.out.remove(path)
    name, builtin = builtin_handler(newest("crio"))
    table = ctx.out.table((*HANDLERS, name))
    if table is not None and {k: v.value for k, v in table.items()} == {
        "runtime_type": "oci",
        "runtime_root": builtin.runtime_root,
    }:
        for key in list(table):
            _mark_default(ctx, (*HANDLERS, name, key))
        ctx.out.remove((*HANDLERS, name))


def _model_value(model: Any, path: Key) -> Any:
    for part in path:
        model = getattr(model, part, MISSING)
        if model is MISSING:
            return MISSING
    return model


def _same(leaf: Leaf | None, default: Any) -> bool:
    """Equal, counting "/etc/cni/net.d/" and "/etc/cni/net.d" as the same path."""
    if leaf is None:
        return False
    value = leaf.value

    def norm(item: Any) -> Any:
        return item.rstrip("/") if isinstance(item, str) and item.startswith("/") else item

    if isinstance(value, list) and isinstance(default, list):
        return [norm(v) for v in value] == [norm(d) for d in default]
    return bool(norm(value) == norm(default)) and type(value) is type(default)


def _mark_default(ctx: ConvertContext, path: Key) -> None:
    leaf = ctx.out.leaf(path)
    if leaf is None or leaf.change is None:
        return
    change = ctx.result.changes[leaf.change]
    note = f"{path[-1]} is CRI-O's default, so the drop-in leaves it out"
    reason = f"{change.reason}; {note}" if change.reason else note
    ctx.result.changes[leaf.change] = dataclasses.replace(change, reason=reason)
