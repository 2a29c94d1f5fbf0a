"""Configuration: the only package that knows the containerd and CRI-O file formats.

Everything else reads `crio_py.config.model.RuntimeSettings`, built by `crio_py.config.load`.
"""
