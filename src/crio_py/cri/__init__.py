"""The CRI layer: grpc servicers (`servicer.py`), the `@rpc` boundary (`instrument.py`), the one
error → status code table (`status_codes.py`) and the RPC handlers (`image.py`, …).

Only `servicer.py`, `instrument.py` and `status_codes.py` import grpc; handlers raise
`crio_py.errors` exceptions and never choose a status code.
"""
