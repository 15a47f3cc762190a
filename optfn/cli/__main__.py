"""``python -m optfn.cli``: the ``optfn`` command."""

import sys

from optfn.cli import main

sys.exit(main())
