"""Reading TOML: positions of keys and values, and syntax errors with their line."""

from __future__ import annotations

import pytest

from crio_py.config.source import Position, TomlSyntaxError, parse_text

TEXT = '''version = 2
# a comment with [brackets] and = signs
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc" # trailing
  a.b = [1,
     {x = 2, "y.z" = 3}]
  s = """multi
 line = not a key"""
  t = 'single'
[[x.y]]
 k = 1
[[x.y]]
 k = 2
[x.y.z]
 w = 3
'''


@pytest.mark.parametrize("path, position", [
    (("version",), Position(1, 1, 1, 11)),
    (("plugins", "io.containerd.grpc.v1.cri", "containerd"), Position(3, 1, 3, 1)),
    (("plugins", "io.containerd.grpc.v1.cri"), Position(3, 1, 3, 1)),
    (("plugins", "io.containerd.grpc.v1.cri", "containerd", "default_runtime_name"),
     Position(4, 3, 4, 26)),
    (("plugins", "io.containerd.grpc.v1.cri", "containerd", "a", "b"), Position(5, 3, 5, 9)),
    (("plugins", "io.containerd.grpc.v1.cri", "containerd", "a", "b", 1, "y.z"),
     Position(6, 14, 6, 22)),
    (("plugins", "io.containerd.grpc.v1.cri", "containerd", "t"), Position(9, 3, 9, 7)),
    (("x", "y", 0, "k"), Position(11, 2, 11, 6)),
    (("x", "y", 1, "k"), Position(13, 2, 13, 6)),
    (("x", "y", 1, "z", "w"), Position(15, 2, 15, 6)),
])
def test_positions(path: tuple[str | int, ...], position: Position) -> None:
    assert parse_text(TEXT).positions[path] == position


def test_a_key_inside_a_multiline_string_is_not_a_key() -> None:
    positions = parse_text(TEXT).positions
    assert not any(path[-1] == "line" for path in positions if path)


def test_unknown_path_falls_back_to_the_nearest_table() -> None:
    source = parse_text(TEXT)
    assert source.position(("x", "y", 1, "z", "missing")) == (14, 1)
    assert source.position(("nothing",)) == (1, 1)


@pytest.mark.parametrize("text, line, column", [
    ("[a]\nx = 1\n\n[b]\n[a]\ny = 2\n", 5, 1),
    ("a = \n", 1, 5),
    ("a = [1,\n2\n", 2, 2),
    ("[a]\nx = 1\n  x = 2\n", 3, 3),
])
def test_syntax_errors_carry_their_position(text: str, line: int, column: int) -> None:
    with pytest.raises(TomlSyntaxError) as caught:
        parse_text(text)
    assert (caught.value.line, caught.value.column) == (line, column)
