"""argv, environment, working directory and stop signal (ocispec/process.py)."""

from __future__ import annotations

import pytest
from cri_api.v1 import api_pb2 as pb

from crio_py.errors import InvalidArgumentError
from crio_py.ocispec import parse_signal, stop_signal
from crio_py.ocispec.process import merge_env, process_args, process_env, working_dir

IMAGE = {"config": {"Entrypoint": ["/entry", "-x"], "Cmd": ["serve", "--port=80"]}}


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        ([], [], ["/entry", "-x", "serve", "--port=80"]),  # image Entrypoint + Cmd
        (["/bin/app"], [], ["/bin/app"]),  # command replaces Entrypoint and clears Cmd
        ([], ["run"], ["/entry", "-x", "run"]),  # args replace Cmd only
        (["/bin/app"], ["run"], ["/bin/app", "run"]),
    ],
)
def test_command_and_args_follow_kubelet_semantics(
    command: list[str], args: list[str], expected: list[str]
) -> None:
    config = pb.ContainerConfig(command=command, args=args)
    assert process_args(config, IMAGE) == expected


def test_empty_string_entrypoint_clears_the_entrypoint() -> None:
    image = {"config": {"Entrypoint": [""], "Cmd": ["sh"]}}
    assert process_args(pb.ContainerConfig(), image) == ["sh"]


def test_null_fields_in_the_image_config_count_as_absent() -> None:
    image = {"config": {"Entrypoint": None, "Cmd": ["sh"], "Env": None}}
    assert process_args(pb.ContainerConfig(), image) == ["sh"]


def test_no_command_anywhere_is_invalid() -> None:
    with pytest.raises(InvalidArgumentError, match="no command specified"):
        process_args(pb.ContainerConfig(), {"config": {}})


def test_malformed_image_field_is_invalid() -> None:
    with pytest.raises(InvalidArgumentError, match="Cmd must be a list of strings"):
        process_args(pb.ContainerConfig(), {"config": {"Cmd": "sh -c true"}})


def test_env_layers_image_then_defaults_then_cri() -> None:
    config = pb.ContainerConfig(
        tty=True,
        envs=[pb.KeyValue(key="B", value="cri"), pb.KeyValue(key="D", value="4")],
    )
    image = {"config": {"Env": ["PATH=/image/bin", "A=1", "B=image", "C=3"]}}
    env = process_env(config, image, ["C=default", "E=5"], "pod-host")
    assert env == [
        "PATH=/image/bin",
        "TERM=xterm",
        "HOSTNAME=pod-host",
        "A=1",
        "B=cri",
        "C=default",
        "E=5",
        "D=4",
    ]


def test_env_without_image_env_has_the_default_path() -> None:
    env = process_env(pb.ContainerConfig(), {"config": {}}, [], "")
    assert env == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def test_bare_name_unsets_a_variable() -> None:
    assert merge_env(["A=1", "B=2"], ["A"], ["C=3"]) == ["B=2", "C=3"]


@pytest.mark.parametrize(
    ("cri", "image", "expected"),
    [("/work", "/image", "/work"), ("", "/image", "/image"), ("", "", "/")],
)
def test_working_dir(cri: str, image: str, expected: str) -> None:
    config = pb.ContainerConfig(working_dir=cri)
    assert working_dir(config, {"config": {"WorkingDir": image}}) == expected


def test_relative_working_dir_is_invalid() -> None:
    with pytest.raises(InvalidArgumentError, match="not an absolute path"):
        working_dir(pb.ContainerConfig(working_dir="work"), {})


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("SIGTERM", 15),
        ("TERM", 15),
        ("sigkill", 9),
        ("2", 2),
        ("SIGRTMIN+3", 37),
        ("SIGRTMAX-1", 63),
        ("SIGRTMINPLUS1", 35),
        ("SIGRTMAXMINUS14", 50),
        ("SIGWINCH", 28),
        ("SIGCLD", 17),
    ],
)
def test_parse_signal(text: str, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["", "SIGNOPE", "0", "65", "RTMIN+40"])
def test_parse_signal_rejects_unknown(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match="invalid signal"):
        parse_signal(text)


def test_stop_signal_prefers_cri_then_image_then_sigterm() -> None:
    image = {"config": {"StopSignal": "SIGQUIT"}}
    assert stop_signal(image, pb.ContainerConfig(stop_signal=pb.SIGUSR1)) == 10
    assert stop_signal(image, pb.ContainerConfig()) == 3
    assert stop_signal({"config": {}}, pb.ContainerConfig()) == 15
    assert stop_signal({}, pb.ContainerConfig(stop_signal=pb.SIGRTMINPLUS2)) == 36
