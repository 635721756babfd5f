"""Test-wide settings."""

import os

# The command line keeps JAX's compiled programs in ~/.cache/cptdyn (persistent cache); tests call
# the CLI in-process and must not write outside their temporary folders.
os.environ.setdefault("CPTDYN_NO_CACHE", "1")
