"""Built-in defaults of the OCI runtime specs crio-py writes: capability sets, default mounts,
masked and read-only paths, the annotation keys. Data only; nothing here does I/O.

Values follow containerd's `pkg/oci/spec.go` and `pkg/oci/mounts.go` (its CRI plugin drops the
/run mount) and containerd's `internal/cri/annotations`; where containerd changed a default, the
comment says which release we follow.
"""

from __future__ import annotations

from typing import Final

OCI_VERSION: Final = "1.0.2-dev"
DEFAULT_PATH_ENV: Final = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# runc's systemd driver wants "slice:prefix:name"; containerd names its scopes with this prefix.
SYSTEMD_SCOPE_PREFIX: Final = "cri-containerd"
CRIO_SCOPE_PREFIX: Final = "crio"  # CRI-O's container cgroups: crio-<id>(.scope)
CRIO_CGROUPFS_PARENT: Final = "crio"  # CRI-O's parent when a pod names none (cgroupfs)
# containerd (podsandbox) gives the infra container 2 CPU shares and an OOM score of -998.
SANDBOX_CPU_SHARES: Final = 2
SANDBOX_OOM_SCORE_ADJ: Final = -998

# Every capability Linux defines (0..40), in kernel order.
ALL_CAPABILITIES: Final[tuple[str, ...]] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON",
    "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip

# The default set of containerd 1.x (and Docker). DESIGN.md takes containerd 1.6 as the
# behavioural reference; containerd's main branch has since dropped MKNOD, NET_RAW, SETFCAP,
# SYS_CHROOT and AUDIT_WRITE (CRI-O's default_capabilities did so earlier).
DEFAULT_CAPABILITIES: Final[tuple[str, ...]] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)  # fmt: skip

DEFAULT_MASKED_PATHS: Final[tuple[str, ...]] = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
    "/sys/devices/virtual/powercap", "/proc/scsi",
)  # fmt: skip

DEFAULT_READONLY_PATHS: Final[tuple[str, ...]] = (
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
)  # fmt: skip

# (destination, type, source, options): containerd's defaults without /run.
DEFAULT_MOUNTS: Final[tuple[tuple[str, str, str, tuple[str, ...]], ...]] = (
    ("/proc", "proc", "proc", ("nosuid", "noexec", "nodev")),
    ("/dev", "tmpfs", "tmpfs", ("nosuid", "strictatime", "mode=755", "size=65536k")),
    ("/dev/pts", "devpts", "devpts",
     ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
    ("/dev/shm", "tmpfs", "shm", ("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")),
    ("/dev/mqueue", "mqueue", "mqueue", ("nosuid", "noexec", "nodev")),
    ("/sys", "sysfs", "sysfs", ("nosuid", "noexec", "nodev", "ro")),
)  # fmt: skip

# CRI-O's read_only = true: writable scratch space on top of a read-only root.
READ_ONLY_TMPFS: Final[tuple[tuple[str, str], ...]] = (
    ("/run", "mode=0755"),
    ("/tmp", "mode=1777"),
    ("/var/tmp", "mode=1777"),
)
READ_ONLY_TMPFS_OPTIONS: Final = ("rw", "noexec", "nosuid", "nodev", "tmpcopyup")

# Annotation keys, as containerd's internal/cri/annotations spells them.
ANNOTATION_PREFIX: Final = "io.kubernetes.cri."
CONTAINER_TYPE: Final = "io.kubernetes.cri.container-type"
CONTAINER_TYPE_SANDBOX: Final = "sandbox"
CONTAINER_TYPE_CONTAINER: Final = "container"
SANDBOX_ID: Final = "io.kubernetes.cri.sandbox-id"
SANDBOX_NAME: Final = "io.kubernetes.cri.sandbox-name"
SANDBOX_NAMESPACE: Final = "io.kubernetes.cri.sandbox-namespace"
SANDBOX_UID: Final = "io.kubernetes.cri.sandbox-uid"
SANDBOX_LOG_DIR: Final = "io.kubernetes.cri.sandbox-log-directory"
SANDBOX_IMAGE_NAME: Final = "io.kubernetes.cri.podsandbox.image-name"
CONTAINER_NAME: Final = "io.kubernetes.cri.container-name"
IMAGE_NAME: Final = "io.kubernetes.cri.image-name"
