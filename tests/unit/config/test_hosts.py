"""hosts.toml lookup order: host_port_, then host, then _default, directory by directory."""

from __future__ import annotations

from pathlib import Path

from crio_py.config.registry.hosts import find_hosts_file, host_dir_names


def test_lookup_names_in_containerd_order() -> None:
    assert host_dir_names("registry.example.com:5000") == [
        "registry.example.com_5000_",
        "registry.example.com:5000",
        "_default",
    ]
    assert host_dir_names("docker.io") == ["docker.io", "_default"]


def test_first_directory_and_first_name_win(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for path in (second / "docker.io", first / "_default", second / "r.io_5000_"):
        path.mkdir(parents=True)
        (path / "hosts.toml").write_text('server = "https://x"\n')
    config_path = f"{first}:{second}"
    assert find_hosts_file(config_path, "docker.io") == first / "_default" / "hosts.toml"
    assert find_hosts_file(str(second), "r.io:5000") == second / "r.io_5000_" / "hosts.toml"
    assert find_hosts_file(str(second), "quay.io") is None
