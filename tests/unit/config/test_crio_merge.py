"""crio.conf + crio.conf.d merging, exactly as CRI-O does it."""

from __future__ import annotations

from pathlib import Path

from crio_py.config.crio.merge import dropin_files, merge_sources
from crio_py.config.locate import Reporter
from crio_py.config.rules import Target
from crio_py.config.source import parse_text


def test_dropins_are_every_regular_file_in_lexical_walk_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    for name in ("20-x.conf", "10-y", "b/05.conf", "a.txt"):
        (tmp_path / name).write_text("")
    names = [p.relative_to(tmp_path).as_posix() for p in dropin_files(tmp_path)]
    assert names == ["10-y", "20-x.conf", "a.txt", "b/05.conf"]


def test_missing_dropin_directory_is_fine(tmp_path: Path) -> None:
    assert dropin_files(tmp_path / "absent") == []


def test_scalars_and_arrays_are_replaced_storage_option_is_appended() -> None:
    main = parse_text('[crio]\nstorage_option = ["a", "b"]\n[crio.runtime]\n'
                      'default_capabilities = ["CHOWN"]\nlog_level = "info"\n', "crio.conf")
    dropin = parse_text('[crio]\nstorage_option = ["b", "c"]\n[crio.runtime]\n'
                        'default_capabilities = ["KILL"]\n', "10.conf")
    merged = merge_sources([main, dropin])
    assert merged["crio"]["storage_option"] == ["a", "b", "c"]
    assert merged["crio"]["runtime"]["default_capabilities"] == ["KILL"]
    assert merged["crio"]["runtime"]["log_level"] == "info"


def test_a_redefined_handler_replaces_the_earlier_one_whole_with_a_warning() -> None:
    main = parse_text('[crio.runtime.runtimes.runc]\nruntime_path = "/usr/sbin/runc"\n'
                      'runtime_root = "/run/runc"\n', "crio.conf")
    dropin = parse_text('[crio.runtime.runtimes.runc]\nmonitor_cgroup = "pod"\n\n'
                        '[crio.runtime.runtimes.crun]\nruntime_path = "/usr/bin/crun"\n',
                        "99.conf")
    reporter = Reporter(Target("crio", (1, 36)), [main, dropin])
    merged = merge_sources([main, dropin], reporter)
    assert merged["crio"]["runtime"]["runtimes"] == {
        "runc": {"monitor_cgroup": "pod"},
        "crun": {"runtime_path": "/usr/bin/crun"},
    }
    [warning] = reporter.diagnostics
    assert (warning.code, warning.file, warning.line, warning.column) == (
        "dropin-replaces-table", "99.conf", 1, 1)
    assert "`runtime_path`, `runtime_root`" in warning.message
    assert "crio.conf" in warning.message


def test_a_redefinition_that_keeps_every_field_is_not_reported() -> None:
    first = parse_text('[crio.runtime.runtimes.runc]\nruntime_path = "/a"\n', "a.conf")
    second = parse_text('[crio.runtime.runtimes.runc]\nruntime_path = "/b"\n', "b.conf")
    reporter = Reporter(Target("crio", (1, 36)), [first, second])
    merged = merge_sources([first, second], reporter)
    assert merged["crio"]["runtime"]["runtimes"]["runc"] == {"runtime_path": "/b"}
    assert reporter.diagnostics == []
