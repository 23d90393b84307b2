"""Code the tests share that is not a fixture: fake plugins, fake runs, fake
result folders, the headless-browser driver.

Importable as ``helpers`` because pytest puts ``tests/`` on ``sys.path`` (it has
no ``__init__.py``); subprocesses and worker processes get it through
``PYTHONPATH``. Shared setup is a fixture in ``tests/conftest.py``.
"""
