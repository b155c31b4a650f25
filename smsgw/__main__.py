"""`python -m smsgw …`, the same as the `smsgw` console script."""

from smsgw.cli import main

raise SystemExit(main())
