"""`python -m sandbox.synthetic ...` = the glioma-synthetic CLI."""

from sandbox.synthetic.cli import main

raise SystemExit(main())
