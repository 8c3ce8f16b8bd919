"""tierflow: keeps each dataset of the lending database in the tier its age calls for.

The library is plain Python and never imports Airflow; the Airflow glue lives in ``plugins/``.
"""

__version__ = "0.1.0"
