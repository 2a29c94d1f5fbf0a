"""The process part of a spec that comes from the image config and the CRI request: argv,
environment, working directory, and the stop signal.

Behaviour follows containerd's `internal/cri/opts.WithProcessArgs` (the Docker rule for
Entrypoint/Cmd) and `pkg/oci.WithEnv` (later values replace earlier ones by name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from cri_api.v1 import api_pb2

from crio_py.errors import InvalidArgumentError, quote
from crio_py.ocispec.defaults import DEFAULT_PATH_ENV

SIGTERM: Final = 15
_SIGRTMIN: Final = 34
_SIGRTMAX: Final = 64
# Linux signal numbers (generic ABI: x86, arm, arm64, riscv, s390).
_SIGNALS: Final[Mapping[str, int]] = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
    "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14,
    "TERM": 15, "STKFLT": 16, "CHLD": 17, "CLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20,
    "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27,
    "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31, "RTMIN": _SIGRTMIN,
    "RTMAX": _SIGRTMAX,
}  # fmt: skip


def image_section(image_config: Mapping[str, object]) -> Mapping[str, object]:
    """The `config` object of an OCI image config (empty when absent)."""
    section = image_config.get("config")
    return section if isinstance(section, Mapping) else {}


def image_strings(image_config: Mapping[str, object], key: str) -> list[str]:
    """A list-of-strings field of the image's `config` ([] when absent or null)."""
    value = image_section(image_config).get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgumentError(f"image config {key} must be a list of strings")
    return [str(v) for v in value]


def image_string(image_config: Mapping[str, object], key: str) -> str:
    """A string field of the image's `config` ("" when absent or null)."""
    value = image_section(image_config).get(key)
    return value if isinstance(value, str) else ""


def process_args(config: api_pb2.ContainerConfig, image_config: Mapping[str, object]) -> list[str]:
    """argv: a CRI command replaces the image Entrypoint and drops its Cmd; CRI args replace
    Cmd (kubelet's command/args semantics, as Docker and containerd apply them)."""
    command, args = list(config.command), list(config.args)
    if not command:
        entrypoint = image_strings(image_config, "Entrypoint")
        # `ENTRYPOINT [""]` in a Dockerfile clears the entrypoint.
        command = [] if entrypoint == [""] else entrypoint
        if not args:
            args = image_strings(image_config, "Cmd")
    argv = command + args
    if not argv:
        raise InvalidArgumentError("no command specified: the image has no Entrypoint or Cmd")
    return argv


def merge_env(base: Sequence[str], *overrides: Iterable[str]) -> list[str]:
    """`base` with each override applied in turn: NAME=value replaces NAME or is appended; a
    bare NAME removes it (containerd's replaceOrAppendEnvValues)."""
    result: dict[str, str | None] = {}
    for entry in base:
        name, _, _ = entry.partition("=")
        result[name] = entry
    for layer in overrides:
        for entry in layer:
            name, sep, _ = entry.partition("=")
            if sep:
                result[name] = entry
            elif name in result:
                result[name] = None
    return [entry for entry in result.values() if entry is not None]


def process_env(
    config: api_pb2.ContainerConfig,
    image_config: Mapping[str, object],
    defaults: Sequence[str],
    hostname: str,
) -> list[str]:
    """PATH, TERM (tty), HOSTNAME, then the image's Env, the configured default_env and the
    CRI envs, each layer overriding the one before by name."""
    base = [DEFAULT_PATH_ENV]
    if config.tty:
        base.append("TERM=xterm")
    if hostname:
        base.append(f"HOSTNAME={hostname}")
    cri = [f"{kv.key}={kv.value}" for kv in config.envs]
    return merge_env(base, image_strings(image_config, "Env"), defaults, cri)


def working_dir(config: api_pb2.ContainerConfig, image_config: Mapping[str, object]) -> str:
    """The CRI working_dir, else the image's WorkingDir, else /."""
    cwd = config.working_dir or image_string(image_config, "WorkingDir") or "/"
    if not cwd.startswith("/"):
        raise InvalidArgumentError(f"working directory {quote(cwd)} is not an absolute path")
    return cwd


def parse_signal(text: str) -> int:
    """A signal number from "15", "TERM", "SIGTERM", "SIGRTMIN+3" or the CRI enum spelling
    "SIGRTMINPLUS3"."""
    name = text.strip().upper()
    if name.isdigit():
        number = int(name)
    else:
        name = name.removeprefix("SIG").replace("PLUS", "+").replace("MINUS", "-")
        number = _SIGNALS.get(name, 0)
        if name.startswith("RTMIN+") and name[6:].isdigit():
            number = _SIGRTMIN + int(name[6:])
        elif name.startswith("RTMAX-") and name[6:].isdigit():
            number = _SIGRTMAX - int(name[6:])
    if not 1 <= number <= _SIGRTMAX:
        raise InvalidArgumentError(f"invalid signal {quote(text)}")
    return number


def stop_signal(image_config: Mapping[str, object], config: api_pb2.ContainerConfig) -> int:
    """The signal StopContainer sends first: the CRI stop_signal, else the image's
    StopSignal, else SIGTERM."""
    if config.stop_signal != api_pb2.RUNTIME_DEFAULT:
        if config.stop_signal not in api_pb2.Signal.values():
            raise InvalidArgumentError(f"stop_signal {config.stop_signal} is not a signal")
        return parse_signal(api_pb2.Signal.Name(config.stop_signal))
    image_signal = image_string(image_config, "StopSignal")
    return parse_signal(image_signal) if image_signal else SIGTERM
