"""Hermetic plugin loading.

The ``harness_suite`` fixture needs no line here: pytest loads it from the
harness's ``pytest11`` entry point. With autoload off, the tests see the
harness's built-ins plus the plugin modules they pass in, whether or not
this package is installed.
"""

import os

os.environ.setdefault("HARNESS_DISABLE_PLUGIN_AUTOLOAD", "1")
