"""The streaming server behind CRI Exec, Attach and PortForward: an HTTP server on the
configured address that upgrades a connection to WebSocket (or SPDY/3.1) and runs the
Kubernetes remotecommand or portforward protocol over it.

- `tokens.py`: single-use URL tokens that expire;
- `requests.py`: what an RPC parks behind a token (the command runner, the port connector);
- `http.py`: HTTP/1.1 request parsing and the upgrade responses;
- `remotecommand.py`: exec and attach sessions over WebSocket channels;
- `portforward.py`: port-forward sessions over WebSocket channels;
- `server.py`: `StreamServer`, which routes connections to sessions.
"""
