"""The harness's test helpers, and hermetic plugin loading.

``harness.testing`` provides the ``harness_suite`` fixture. With autoload off,
the tests see the harness's built-ins plus the plugin modules they pass in,
whether or not this package is installed.
"""

import os

os.environ.setdefault("HARNESS_DISABLE_PLUGIN_AUTOLOAD", "1")

pytest_plugins = ["harness.testing"]
