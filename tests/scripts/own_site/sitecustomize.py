"""A program's own sitecustomize (the watch tests check that bench's tracer still runs it)."""

import os

os.environ["OWN_SITECUSTOMIZE_RAN"] = "yes"
