"""`python -m sandbox.shopify --port 8081 --webhook-url URL --webhook-secret S`: the sandbox's Shopify."""

from sandbox.shopify.server import main

if __name__ == "__main__":
    main()
