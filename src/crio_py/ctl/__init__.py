"""`crio-py ctl`: a CRI client with crictl's verbs, flags and output, for machines without crictl.

It is a client only: it talks to a runtime over its socket and never reaches into daemon state.
`args.py` builds the parser (cheap, no grpc); `main.run()` connects and runs one verb, whose
module (`version`, `pull`, `images`, `rmi`) prints as crictl does (`output.py`).
"""
