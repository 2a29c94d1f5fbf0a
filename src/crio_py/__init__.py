"""crio-py: a configuration-first Kubernetes node container runtime (CRI) driving the OCI tools."""

__version__ = "0.1.0"
__all__ = ["__version__"]
