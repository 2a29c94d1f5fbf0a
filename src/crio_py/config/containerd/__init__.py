"""containerd config.toml: the models of each config version, key history, the CRI view and
RuntimeSettings built from a parsed file. Knows nothing of CRI-O."""
