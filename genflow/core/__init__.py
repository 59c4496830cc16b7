"""genflow's core: what every room may import (settings, the candidate document, the store,
structure I/O, the composition canon, and small shared helpers such as progress bars and
JSON-safe values). The core imports no other room."""
