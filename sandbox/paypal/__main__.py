"""`python -m sandbox.paypal --port 8084 --webhook-url URL`: the sandbox's PayPal."""

from sandbox.paypal.server import main

if __name__ == "__main__":
    main()
