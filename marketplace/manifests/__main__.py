"""`python -m marketplace.manifests [PUBLIC_URL]` rewrites the manifest files from the code."""
import sys

from marketplace.manifests import DEFAULT_PUBLIC_URL, write

for written in write(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PUBLIC_URL):
    print(written)
