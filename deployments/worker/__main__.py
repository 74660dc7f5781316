"""`python -m deployments.worker`: the `aftersales` pool's fork worker (deployments/worker/__init__.py).

The entry point is a package's `__main__` on purpose: multiprocessing imports the parent's main
module again in every forkserver child unless it is a `__main__` of a package, so each fork
starts with nothing to import (Python's multiprocessing docs, "Safe importing of main module")."""

from deployments.worker import main

main()
