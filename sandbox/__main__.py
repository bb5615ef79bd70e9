"""`python -m sandbox` — the same as `leadrelay sandbox`."""
from sandbox.cli import main

raise SystemExit(main())
