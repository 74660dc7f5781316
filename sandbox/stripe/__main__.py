"""`python -m sandbox.stripe --port 8083 [--webhook-url URL]`: the sandbox's Stripe."""

from sandbox.stripe.server import main

if __name__ == "__main__":
    main()
