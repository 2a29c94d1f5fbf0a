"""`python -m crio_py` runs the command line."""

from crio_py.cli import main

raise SystemExit(main())
