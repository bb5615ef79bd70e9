"""`python -m leadrelay` is the `leadrelay` command."""
from leadrelay.cli import main

raise SystemExit(main())
