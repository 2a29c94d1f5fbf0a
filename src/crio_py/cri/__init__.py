"""The CRI layer: grpc servicers generated from the service descriptors (`servicer.py`), the
`@rpc` boundary (`instrument.py`), the one error → status code table (`status_codes.py`), the
RPC table (`rpcs.py`) and the services whose RPCs it names: `runtime_info.py`, `image.py`,
`sandbox/`, `container/`, and the pod-level `pod_stats.py` and `pod_metrics.py`.

Only `servicer.py`, `instrument.py` and `status_codes.py` import grpc; handlers raise
`crio_py.errors` exceptions and never choose a status code.
"""
