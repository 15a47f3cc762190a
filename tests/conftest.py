"""Test configuration: hypothesis is derandomized under CI.

Locally every run explores new random examples (and keeps failures in .hypothesis/). In CI
(``CI`` set), the examples are derived from each test's own code, so a run is reproducible:
a red CI means the same failure on a re-run, not a new random find.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
