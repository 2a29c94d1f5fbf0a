"""Registry settings shared by both formats: hosts.toml files, registries.conf and the endpoints
a pull tries. Knows neither config.toml nor crio.conf."""
