"""CRI-O crio.conf: the table models, crio.conf.d merging, key history and RuntimeSettings built
from a parsed configuration. Knows nothing of containerd."""
