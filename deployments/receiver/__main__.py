"""`python -m deployments.receiver`: serve the receiver (deployments/receiver/server.py)."""

from deployments.receiver.server import main

main()
