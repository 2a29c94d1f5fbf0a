"""The keys of Docker's daemon.json (dockerd's daemon/config package) and the JSON type of each.

Types: "string", "bool", "int", "strings" (a list of strings), "object", "list". A few keys
have a shape of their own, checked in lint.py.
"""

from __future__ import annotations

_STRING = (
    "data-root exec-root default-runtime log-driver log-level cgroup-parent bip bip6 bridge "
    "fixed-cidr fixed-cidr-v6 default-gateway default-gateway-v6 group pidfile storage-driver "
    "userns-remap default-shm-size default-cgroupns-mode default-ipc-mode seccomp-profile "
    "containerd containerd-namespace containerd-plugins-namespace userland-proxy-path "
    "init-path tlscacert tlscert tlskey ip metrics-addr swarm-default-advertise-addr "
    "cluster-store cluster-advertise log-format host-gateway-ip graph default-isolation "
    "http-proxy https-proxy no-proxy firewall-backend"
)
_BOOL = (
    "debug live-restore experimental icc ip-forward ip-masq iptables ip6tables ipv6 "
    "userland-proxy init no-new-privileges selinux-enabled tls tlsverify raw-logs "
    "disable-legacy-registry allow-direct-routing"
)
_INT = (
    "mtu max-concurrent-downloads max-concurrent-uploads max-download-attempts "
    "shutdown-timeout oom-score-adjust cpu-rt-period cpu-rt-runtime network-control-plane-mtu"
)
_STRINGS = (
    "registry-mirrors insecure-registries exec-opts storage-opts dns dns-opts dns-search hosts "
    "labels authorization-plugins allow-nondistributable-artifacts cdi-spec-dirs "
    "node-generic-resources"
)
_OBJECT = (
    "log-opts runtimes default-ulimits features builder proxies default-network-opts "
    "cluster-store-opts"
)
_LIST = "default-address-pools"

KEY_TYPES: dict[str, str] = {
    **dict.fromkeys(_STRING.split(), "string"),
    **dict.fromkeys(_BOOL.split(), "bool"),
    **dict.fromkeys(_INT.split(), "int"),
    **dict.fromkeys(_STRINGS.split(), "strings"),
    **dict.fromkeys(_OBJECT.split(), "object"),
    **dict.fromkeys(_LIST.split(), "list"),
}

RUNTIME_KEYS = {
    "path": "string",
    "runtimeArgs": "strings",
    "runtimeType": "string",
    "options": "object",
}
ULIMIT_KEYS = {"Name": "string", "Hard": "int", "Soft": "int"}
ADDRESS_POOL_KEYS = {"base": "string", "size": "int"}
