"""tierflow: keeps each dataset of the lending database in the tier its age calls for.

The library is plain Python and never imports Airflow; the Airflow glue lives in ``plugins/``.
"""

import os

# Arrow's default allocator (mimalloc) keeps the pages of freed batches mapped, so a long archive
# or load run grows with the data it has seen; the system allocator returns them. Read by Arrow's
# C++ library when it is first loaded, so it is set before anything imports pyarrow.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

__version__ = "0.1.0"
